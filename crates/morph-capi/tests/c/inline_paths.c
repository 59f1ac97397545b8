/*
 * The header's inline paths: morph_alloc_v2, morph_frame_push and
 * morph_frame_pop as inline functions.
 *  - A list built by inline allocation, its head in a frame pushed inline,
 *    survives the collections its allocations run, checked against the
 *    verifier and the statistics.
 *  - A type registered after the context lent out the nursery is
 *    allocated too.
 *  - Every case the inline path must not take reaches the checked function
 *    and its error: another thread's context, a finalizer calling back into
 *    its context, unknown flags, a payload smaller than the type, a pointer
 *    that is no type handle, a frame popped out of order and a destroyed
 *    context.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"

#ifndef MORPH_INLINE_PATHS

int main(void) {
    printf("inline paths: not available on this platform\n");
    return 0;
}

#else

typedef struct Node {
    struct Node *next;
    int64_t value;
} Node;

typedef struct Pair {
    void *left;
    void *right;
} Pair;

static const MorphTypeInfo *node_type;
static MorphContext *ctx;

static const MorphInline *paths(void) {
    return &((const MorphHandlePrefix *)(const void *)ctx)->inline_paths;
}

/* Another thread's view: both paths must refuse the context. */
static void *other_thread(void *arg) {
    MorphStatus *got = (MorphStatus *)arg;
    void *slots[1] = {NULL};
    MorphFrame frame;
    got[0] = morph_alloc_v2(ctx, sizeof(Node), node_type, MORPH_ALLOC_DEFAULT) == NULL
                 ? morph_last_error()
                 : MORPH_OK;
    got[1] = morph_frame_push(ctx, &frame, slots, 1);
    return NULL;
}

/* A finalizer that calls back into the context that is collecting. */
static MorphStatus busy_alloc = MORPH_OK;
static MorphStatus busy_push = MORPH_OK;
static int finalized;

static void finalize_calls_back(void *object, void *user_data) {
    void *slots[1] = {NULL};
    MorphFrame frame;
    (void)object;
    (void)user_data;
    finalized++;
    busy_alloc = morph_alloc_v2(ctx, sizeof(Node), node_type, MORPH_ALLOC_DEFAULT) == NULL
                     ? morph_last_error()
                     : MORPH_OK;
    busy_push = morph_frame_push(ctx, &frame, slots, 1);
}

int main(void) {
    CHECK_OK(morph_context_create_preset(MORPH_MODE_RUNTIME, &ctx));
    size_t offsets[] = {offsetof(Node, next)};
    MorphTypeDesc desc = {0};
    desc.name = "InlineNode";
    desc.size = sizeof(Node);
    desc.ref_offsets = offsets;
    desc.ref_count = 1;
    CHECK_OK(morph_type_register(&desc, &node_type));

    /* The first call opens the inline paths; the second allocation is inline. */
    void *roots[2] = {NULL, NULL};
    MorphFrame frame;
    CHECK_OK(MORPH_PUSH_ROOTS(ctx, &frame, roots));
    CHECK(paths()->thread != 0 && paths()->top == &frame && paths()->depth == 1);
    roots[0] = morph_alloc_v2(ctx, sizeof(Node), node_type, MORPH_ALLOC_DEFAULT);
    roots[1] = morph_alloc_v2(ctx, sizeof(Node), node_type, MORPH_ALLOC_DEFAULT);
    CHECK(roots[0] != NULL && roots[1] != NULL && paths()->objects >= 1);
    CHECK_OK(morph_frame_pop(ctx, &frame));
    CHECK(paths()->top == NULL && paths()->depth == 0);

    MorphMemStats before;
    CHECK_OK(morph_mem_get_stats(ctx, &before));

    /* A list of N nodes (24 MiB): allocation collects several times. */
    enum { N = 1000000 };
    void *head[1] = {NULL};
    MorphFrame list_frame;
    CHECK_OK(MORPH_PUSH_ROOTS(ctx, &list_frame, head));
    int64_t expected = 0;
    for (int64_t i = 0; i < N; i++) {
        MorphFrame inner;
        void *scratch[1] = {NULL};
        CHECK_OK(MORPH_PUSH_ROOTS(ctx, &inner, scratch));
        Node *node = (Node *)morph_alloc_v2(ctx, sizeof(Node), node_type, MORPH_ALLOC_DEFAULT);
        CHECK(node != NULL && node->next == NULL && node->value == 0);
        node->value = i;
        MORPH_STORE(ctx, node, next, (Node *)head[0]);
        head[0] = node;
        CHECK_OK(morph_frame_pop(ctx, &inner));
        expected += i;
    }
    CHECK(morph_frame_depth(ctx) == 1);
    CHECK_OK(morph_verify(ctx));
    CHECK_OK(morph_collect(ctx, MORPH_COLLECT_MAJOR));
    CHECK_OK(morph_verify(ctx));
    int64_t sum = 0;
    size_t length = 0;
    for (const Node *node = (const Node *)head[0]; node != NULL; node = node->next) {
        sum += node->value;
        length++;
    }
    CHECK(length == N && sum == expected);
    MorphMemStats after;
    CHECK_OK(morph_mem_get_stats(ctx, &after));
    CHECK(after.object_count - before.object_count == N);
    CHECK(after.gc_count - before.gc_count >= 3);
    printf("inline paths: a list of %zu nodes through %llu collections\n", length,
           (unsigned long long)(after.gc_count - before.gc_count));

    /* A type registered now: first the function, then inline. */
    size_t pair_offsets[] = {offsetof(Pair, left), offsetof(Pair, right)};
    MorphTypeDesc pair_desc = {0};
    pair_desc.name = "InlinePair";
    pair_desc.size = sizeof(Pair);
    pair_desc.ref_offsets = pair_offsets;
    pair_desc.ref_count = 2;
    const MorphTypeInfo *pair_type = NULL;
    CHECK_OK(morph_type_register(&pair_desc, &pair_type));
    for (int i = 0; i < 3; i++) {
        Pair *pair = (Pair *)morph_alloc_v2(ctx, sizeof(Pair), pair_type, MORPH_ALLOC_DEFAULT);
        CHECK(pair != NULL && pair->left == NULL && pair->right == NULL);
        MORPH_STORE(ctx, pair, left, head[0]);
    }
    CHECK_OK(morph_verify(ctx));

    /* Another thread's calls reach the function and are refused. */
    MorphStatus got[2] = {MORPH_OK, MORPH_OK};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, other_thread, got) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(got[0] == MORPH_ERR_WRONG_THREAD && got[1] == MORPH_ERR_WRONG_THREAD);
    printf("inline paths: another thread: %s / %s\n", morph_status_message(got[0]),
           morph_status_message(got[1]));

    /* A finalizer's calls find the context busy. */
    const MorphTypeInfo *fin_type = NULL;
    MorphTypeDesc fin_desc = {0};
    fin_desc.name = "InlineFinalized";
    fin_desc.size = 16;
    fin_desc.finalize = finalize_calls_back;
    CHECK_OK(morph_type_register(&fin_desc, &fin_type));
    CHECK(morph_alloc_v2(ctx, 16, fin_type, MORPH_ALLOC_DEFAULT) != NULL);
    CHECK_OK(morph_collect(ctx, MORPH_COLLECT_MINOR));
    CHECK(finalized == 1 && busy_alloc == MORPH_ERR_BUSY && busy_push == MORPH_ERR_BUSY);
    printf("inline paths: a finalizer: %s / %s\n", morph_status_message(busy_alloc),
           morph_status_message(busy_push));

    /* Arguments the inline path does not take: the function's errors. */
    CHECK(morph_alloc_v2(ctx, sizeof(Node), node_type, 0x100) == NULL);
    CHECK(morph_last_error() == MORPH_ERR_INVALID_ARGUMENT);
    CHECK(morph_alloc_v2(ctx, sizeof(Node) - 8, node_type, MORPH_ALLOC_DEFAULT) == NULL);
    CHECK(morph_last_error() == MORPH_ERR_TYPE);
    uint64_t not_a_type[8] = {0};
    CHECK(morph_alloc_v2(ctx, 16, (const MorphTypeInfo *)(void *)not_a_type,
                         MORPH_ALLOC_DEFAULT) == NULL);
    CHECK(morph_last_error() == MORPH_ERR_BAD_HANDLE);
    MorphFrame a, b;
    void *slot_a[1] = {NULL}, *slot_b[1] = {NULL};
    CHECK_OK(morph_frame_push(ctx, &a, slot_a, 1));
    CHECK_OK(morph_frame_push(ctx, &b, slot_b, 1));
    CHECK_STATUS(morph_frame_pop(ctx, &a), MORPH_ERR_FRAME_ORDER);
    CHECK_STATUS(morph_frame_push(ctx, &b, slot_b, 1), MORPH_ERR_INVALID_ARGUMENT);
    CHECK_OK(morph_frame_pop(ctx, &b));
    CHECK_OK(morph_frame_pop(ctx, &a));
    CHECK_OK(morph_frame_pop(ctx, &list_frame));
    CHECK(morph_frame_depth(ctx) == 0);

    /* A destroyed context: the inline paths are closed. */
    CHECK_OK(morph_context_destroy(ctx));
    CHECK(morph_alloc_v2(ctx, sizeof(Node), node_type, MORPH_ALLOC_DEFAULT) == NULL);
    CHECK(morph_last_error() == MORPH_ERR_DESTROYED);
    CHECK_STATUS(morph_frame_push(ctx, &a, slot_a, 1), MORPH_ERR_DESTROYED);
    printf("inline paths: destroyed: %s\n", morph_status_message(MORPH_ERR_DESTROYED));
    return 0;
}

#endif
