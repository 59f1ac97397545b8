/*
 * The JIT code cache from C: write a function, make it executable (W^X),
 * call it, discard it, reuse its space.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"

typedef int (*answer_fn)(void);

static int call(const void *entry) {
    answer_fn fn;
    memcpy(&fn, &entry, sizeof fn); /* object pointer to function pointer */
    return fn();
}

int main(void) {
    MorphContext *runtime = NULL;
    CHECK_OK(morph_context_create_preset(MORPH_MODE_RUNTIME, &runtime));
    MorphCodeBlock block;
    CHECK_STATUS(morph_code_alloc(runtime, 64, &block, NULL), MORPH_ERR_WRONG_MODE);
    CHECK_OK(morph_context_destroy(runtime));

    MorphContext *ctx = NULL;
    CHECK_OK(morph_context_create_preset(MORPH_MODE_VM, &ctx));
    CHECK_OK(morph_code_cache_init(ctx, 1u << 20));
    void *writable = NULL;
    CHECK_OK(morph_code_alloc(ctx, 4096, &block, &writable));
    CHECK(writable != NULL);
#if defined(__x86_64__)
    static const unsigned char answer[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3}; /* mov eax, 42; ret */
#elif defined(__aarch64__)
    static const unsigned char answer[] = {0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6};
#else
    static const unsigned char answer[] = {0};
#endif
    memcpy(writable, answer, sizeof answer); /* through the writable mapping */
    CHECK_OK(morph_code_write(ctx, block, 0, answer, sizeof answer)); /* or the checked API */
    CHECK_STATUS(morph_code_write(ctx, block, 4095, answer, 2), MORPH_ERR_INVALID_ARGUMENT);
    const void *entry = NULL;
    CHECK_OK(morph_code_make_executable(ctx, block, &entry));
    CHECK(entry == writable);
#if defined(__x86_64__) || defined(__aarch64__)
    int result = call(entry);
    CHECK(result == 42);
    printf("JIT code returned %d\n", result);
#endif
    /* W^X: the block is no longer writable. */
    CHECK_STATUS(morph_code_write(ctx, block, 0, answer, 1), MORPH_ERR_CODE);
    printf("write to executable code refused: %s\n", morph_last_error_message());

    MorphMemStats stats;
    CHECK_OK(morph_mem_get_stats(ctx, &stats));
    CHECK(stats.code_blocks == 1 && stats.code_used_bytes >= 4096);

    CHECK_OK(morph_code_discard(ctx, block));
    CHECK_STATUS(morph_code_discard(ctx, block), MORPH_ERR_CODE); /* stale handle */
    MorphCodeBlock again;
    void *reused = NULL;
    CHECK_OK(morph_code_alloc(ctx, 100, &again, &reused));
    CHECK(reused == writable); /* the discarded space is reused */
    CHECK(((unsigned char *)reused)[0] == 0); /* and fresh */
    CHECK_OK(morph_mem_get_stats(ctx, &stats));
    CHECK(stats.code_blocks == 1);
    fflush(stdout);
    CHECK_OK(morph_mem_print_stats(ctx));
    CHECK_OK(morph_context_destroy(ctx));
    return 0;
}
