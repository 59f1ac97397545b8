/*
 * Binary trees built bottom-up through shadow-stack frames in stress mode; a
 * type traced by a C callback (morph_visit) with a finalizer; a finalizer that
 * calls back into its context is refused with MORPH_ERR_BUSY.
 */
#include <stddef.h>
#include <stdint.h>

#include "check.h"

typedef struct Tree {
    struct Tree *left;
    struct Tree *right;
    int64_t depth;
} Tree;

static const MorphTypeInfo *tree_type;
static MorphContext *the_ctx;
static size_t finalized;
static MorphStatus reentry_status = MORPH_OK;

static void trace_tree(void *object, MorphVisitor *visitor, void *user_data) {
    Tree *tree = (Tree *)object;
    (void)user_data;
    morph_visit(visitor, (void **)&tree->left);
    morph_visit(visitor, (void **)&tree->right);
}

static void finalize_tree(void *object, void *user_data) {
    (void)object;
    (*(size_t *)user_data)++;
    if (reentry_status == MORPH_OK) {
        /* Finalizers run inside a collection: the context is busy. */
        reentry_status = morph_collect(the_ctx, MORPH_COLLECT_MINOR);
    }
}

/* A tree of `depth`; the result is unrooted: root it before allocating. */
static Tree *make_tree(MorphContext *ctx, int depth) {
    void *children[2] = {NULL, NULL};
    MorphFrame frame;
    CHECK_OK(MORPH_PUSH_ROOTS(ctx, &frame, children));
    if (depth > 0) {
        children[0] = make_tree(ctx, depth - 1);
        children[1] = make_tree(ctx, depth - 1);
    }
    Tree *tree = (Tree *)mph_alloc(ctx, sizeof(Tree), tree_type); /* may collect */
    CHECK(tree != NULL);
    MORPH_STORE(ctx, tree, left, (Tree *)children[0]);
    MORPH_STORE(ctx, tree, right, (Tree *)children[1]);
    tree->depth = depth;
    CHECK_OK(morph_frame_pop(ctx, &frame));
    return tree;
}

static size_t check_tree(const Tree *tree, int depth) {
    if (tree == NULL) {
        CHECK(depth < 0);
        return 0;
    }
    CHECK(tree->depth == depth);
    return 1 + check_tree(tree->left, depth - 1) + check_tree(tree->right, depth - 1);
}

int main(void) {
    CHECK_OK(morph_context_create_preset(MORPH_MODE_RUNTIME, &the_ctx));
    MorphContext *ctx = the_ctx;
    CHECK_OK(morph_set_stress(ctx, 50));

    MorphTypeDesc desc = {0};
    desc.name = "Tree";
    desc.size = sizeof(Tree);
    desc.trace = trace_tree;
    desc.finalize = finalize_tree;
    desc.user_data = &finalized;
    CHECK_OK(morph_type_register(&desc, &tree_type));

    void *roots[2] = {NULL, NULL};
    MorphFrame frame;
    CHECK_OK(MORPH_PUSH_ROOTS(ctx, &frame, roots));

    enum { LONG_LIVED = 12, SHORT = 8, ITERATIONS = 40 };
    roots[0] = make_tree(ctx, LONG_LIVED);
    size_t allocated = (1u << (LONG_LIVED + 1)) - 1;
    for (int i = 0; i < ITERATIONS; i++) {
        roots[1] = make_tree(ctx, SHORT);
        allocated += (1u << (SHORT + 1)) - 1;
        CHECK(check_tree((const Tree *)roots[1], SHORT) == (1u << (SHORT + 1)) - 1);
        if (i % 10 == 0) {
            CHECK_OK(morph_verify(ctx));
        }
    }
    size_t nodes = check_tree((const Tree *)roots[0], LONG_LIVED);
    CHECK(nodes == (1u << (LONG_LIVED + 1)) - 1);
    CHECK_OK(morph_verify(ctx));

    roots[1] = NULL;
    CHECK_OK(morph_collect(ctx, MORPH_COLLECT_MAJOR));
    CHECK(finalized > 0);
    CHECK(reentry_status == MORPH_ERR_BUSY);
    printf("a finalizer calling back into its context got: %s\n", morph_status_message(reentry_status));

    MorphMemStats stats;
    CHECK_OK(morph_mem_get_stats(ctx, &stats));
    CHECK_OK(morph_frame_pop(ctx, &frame));
    printf("binary trees: %zu nodes allocated, long-lived tree of %zu nodes intact after %llu "
           "collections; %zu finalized before destroy\n",
           allocated, nodes, (unsigned long long)stats.gc_count, finalized);
    CHECK_OK(morph_context_destroy(ctx));
    /* Destroying the context finalizes what was still alive: every node once. */
    CHECK(finalized == allocated);
    printf("finalized after destroy: %zu of %zu\n", finalized, allocated);
    return 0;
}
