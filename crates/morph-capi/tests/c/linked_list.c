/*
 * A linked list kept alive through a shadow-stack frame across collections
 * in stress mode; an offset-table type; old-to-young stores through the
 * inline barrier, and the verifier catching a store without one; a global
 * root.
 */
#include <stddef.h>
#include <stdint.h>

#include "check.h"

typedef struct Node {
    struct Node *next;
    int64_t value;
} Node;

static const MorphTypeInfo *node_type;

static void *global_root;

static int64_t sum_list(const Node *node, size_t *length) {
    int64_t sum = 0;
    *length = 0;
    for (; node != NULL; node = node->next) {
        sum += node->value;
        (*length)++;
    }
    return sum;
}

int main(void) {
    MorphContext *ctx = NULL;
    CHECK_OK(morph_context_create_preset(MORPH_MODE_RUNTIME, &ctx));
    CHECK_OK(morph_set_stress(ctx, 7)); /* a collection every 7 allocations */

    size_t offsets[] = {offsetof(Node, next)};
    MorphTypeDesc desc = {0};
    desc.name = "ListNode";
    desc.size = sizeof(Node);
    desc.ref_offsets = offsets;
    desc.ref_count = 1;
    CHECK_OK(morph_type_register(&desc, &node_type));

    /* roots[0]: the list's head; roots[1]: an old node. */
    void *roots[2] = {NULL, NULL};
    MorphFrame frame;
    CHECK_OK(MORPH_PUSH_ROOTS(ctx, &frame, roots));

    enum { N = 20000 };
    for (int64_t i = 0; i < N; i++) {
        /* May collect: the list moves, and roots[0] follows it. */
        Node *node = (Node *)mph_alloc(ctx, sizeof(Node), node_type);
        CHECK(node != NULL);
        node->value = i;
        MORPH_STORE(ctx, node, next, (Node *)roots[0]);
        roots[0] = node;
        if (i % 3 == 0) {
            CHECK(morph_alloc_v2(ctx, 40, NULL, MORPH_ALLOC_DEFAULT) != NULL); /* garbage */
        }
        if (i % 5000 == 0) {
            CHECK_OK(morph_verify(ctx));
        }
    }
    size_t length = 0;
    int64_t sum = sum_list((const Node *)roots[0], &length);
    CHECK(length == N);
    CHECK(sum == (int64_t)N * (N - 1) / 2);
    CHECK_OK(morph_verify(ctx));

    /* Old-to-young stores. Stress off, so collections happen where we say. */
    CHECK_OK(morph_set_stress(ctx, 0));
    roots[1] = morph_alloc_v2(ctx, sizeof(Node), node_type, MORPH_ALLOC_TENURED);
    CHECK(roots[1] != NULL);
    Node *young = (Node *)mph_alloc(ctx, sizeof(Node), node_type);
    CHECK(young != NULL);
    young->value = -1;
    /* A store without the barrier: the verifier sees the unremembered edge. */
    ((Node *)roots[1])->next = young;
    CHECK_STATUS(morph_verify(ctx), MORPH_ERR_VERIFY);
    printf("verifier on a missing barrier: %s\n", morph_last_error_message());
    /* The inline barrier records it; a minor collection then keeps `young`. */
    MORPH_STORE(ctx, (Node *)roots[1], next, young);
    CHECK_OK(morph_verify(ctx));
    CHECK_OK(morph_collect(ctx, MORPH_COLLECT_MINOR));
    CHECK(((Node *)roots[1])->next != NULL);
    CHECK(((Node *)roots[1])->next != young); /* it moved... */
    CHECK(((Node *)roots[1])->next->value == -1); /* ...and kept its contents */
    CHECK_OK(morph_verify(ctx));

    /* A global root keeps the list alive after the frame lets go of it. */
    global_root = roots[0];
    CHECK_OK(morph_root_add(ctx, &global_root));
    CHECK_STATUS(morph_root_add(ctx, &global_root), MORPH_ERR_INVALID_ARGUMENT);
    roots[0] = NULL;
    CHECK_OK(morph_collect(ctx, MORPH_COLLECT_MAJOR));
    CHECK_OK(morph_collect(ctx, MORPH_COLLECT_MINOR));
    sum = sum_list((const Node *)global_root, &length);
    CHECK(length == N && sum == (int64_t)N * (N - 1) / 2);
    CHECK_OK(morph_root_remove(ctx, &global_root));

    /* Frames pop in reverse order. */
    MorphFrame inner;
    void *inner_roots[1] = {NULL};
    CHECK_OK(MORPH_PUSH_ROOTS(ctx, &inner, inner_roots));
    CHECK(morph_frame_depth(ctx) == 2);
    CHECK_STATUS(morph_frame_pop(ctx, &frame), MORPH_ERR_FRAME_ORDER);
    CHECK_OK(morph_frame_pop(ctx, &inner));
    CHECK_OK(morph_frame_pop(ctx, &frame));
    CHECK(morph_frame_depth(ctx) == 0);

    MorphMemStats stats;
    CHECK_OK(morph_mem_get_stats(ctx, &stats));
    printf("linked list: %zu nodes summed to %lld across %llu collections (%llu minor, %llu major)\n",
           length, (long long)sum, (unsigned long long)stats.gc_count,
           (unsigned long long)stats.young_gc_count, (unsigned long long)stats.old_gc_count);
    CHECK(stats.gc_count > 1000);
    CHECK_OK(morph_context_destroy(ctx));
    return 0;
}
