/*
 * A pinned buffer handed to C code (qsort, snprintf, memcpy) keeps its
 * address and contents across collections; a default object moves.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"

static int ascending(const void *a, const void *b) {
    int x = *(const int *)a;
    int y = *(const int *)b;
    return (x > y) - (x < y);
}

int main(void) {
    MorphContext *ctx = NULL;
    CHECK_OK(morph_context_create_preset(MORPH_MODE_RUNTIME, &ctx));

    enum { INTS = 1024 };
    static void *pinned_root;
    static void *large_root;
    int *ints = (int *)morph_alloc_v2(ctx, INTS * sizeof(int), NULL, MORPH_ALLOC_PINNED);
    CHECK(ints != NULL);
    pinned_root = ints;
    CHECK_OK(morph_root_add(ctx, &pinned_root));
    /* A pinned buffer past the large-object threshold (its own mapping). */
    size_t large_size = 3u << 20;
    char *large = (char *)morph_alloc_v2(ctx, large_size, NULL, MORPH_ALLOC_PINNED);
    CHECK(large != NULL);
    large_root = large;
    CHECK_OK(morph_root_add(ctx, &large_root));

    /* Hand both to plain C code that keeps raw pointers. */
    for (int i = 0; i < INTS; i++) {
        ints[i] = INTS - i;
    }
    qsort(ints, INTS, sizeof(int), ascending);
    memset(large, 'x', large_size);
    snprintf(large, 64, "pinned at %p", (void *)large);

    /* A movable object, for contrast. */
    void *roots[1] = {NULL};
    MorphFrame frame;
    CHECK_OK(MORPH_PUSH_ROOTS(ctx, &frame, roots));
    roots[0] = morph_alloc_v2(ctx, 64, NULL, MORPH_ALLOC_DEFAULT);
    void *before = roots[0];
    CHECK(before != NULL);
    memcpy(before, "movable", 8);

    CHECK_OK(morph_set_stress(ctx, 100));
    for (int i = 0; i < 200000; i++) {
        CHECK(morph_alloc_v2(ctx, 32 + (size_t)(i % 7) * 8, NULL, MORPH_ALLOC_DEFAULT) != NULL);
    }
    CHECK_OK(morph_collect(ctx, MORPH_COLLECT_MAJOR));
    CHECK_OK(morph_verify(ctx));

    CHECK(pinned_root == ints); /* never moved */
    CHECK(large_root == large);
    for (int i = 0; i < INTS; i++) {
        CHECK(ints[i] == i + 1);
    }
    char expected[64];
    snprintf(expected, sizeof expected, "pinned at %p", (void *)large);
    CHECK(strcmp(large, expected) == 0);
    CHECK(large[large_size - 1] == 'x');
    CHECK(roots[0] != before); /* the default object moved... */
    CHECK(memcmp(roots[0], "movable", 8) == 0); /* ...with its bytes */

    printf("pinned buffers stayed at %p and %p through 200000 allocations; a default object "
           "moved from %p to %p\n",
           (void *)ints, (void *)large, before, roots[0]);
    CHECK_OK(morph_frame_pop(ctx, &frame));
    CHECK_OK(morph_root_remove(ctx, &pinned_root));
    CHECK_OK(morph_root_remove(ctx, &large_root));
    CHECK_OK(morph_context_destroy(ctx));
    return 0;
}
