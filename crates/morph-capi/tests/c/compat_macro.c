/*
 * The seed's migration path: V1 call sites through the mph_alloc macro, the
 * mode switched by MORPH_MEM_MODE, the arena and pools for a C compiler, and
 * the boundary's checks (null, destroyed, foreign and other threads' handles,
 * bad arguments), each with its own error code.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

typedef struct Token {
    int32_t kind;
    int32_t line;
    const char *text;
} Token;

static void *use_from_another_thread(void *ctx) {
    static MorphStatus status;
    status = morph_collect((MorphContext *)ctx, MORPH_COLLECT_MINOR);
    return &status;
}

int main(void) {
    /* V1 code: mph_alloc(ctx, size, type) keeps compiling. */
    MorphContext *ctx = NULL;
    CHECK_OK(morph_context_create_preset(MORPH_MODE_COMPILER, &ctx));
    MorphTypeDesc desc = {0};
    desc.name = "Token";
    desc.size = sizeof(Token);
    const MorphTypeInfo *token_type = NULL;
    CHECK_OK(morph_type_register(&desc, &token_type));
    CHECK(morph_type_size(token_type) == sizeof(Token));
    CHECK(strcmp(morph_type_name(token_type), "Token") == 0);
    for (int i = 0; i < 10000; i++) {
        Token *token = (Token *)mph_alloc(ctx, sizeof(Token), token_type);
        CHECK(token != NULL);
        token->kind = i % 5;
        token->line = i;
    }
    /* Pooled objects are freed one by one; frees are checked. */
    void *pooled = morph_alloc_v2(ctx, sizeof(Token), token_type,
                                  MORPH_ALLOC_POOLED | MORPH_ALLOC_ZEROED);
    CHECK(pooled != NULL && ((Token *)pooled)->line == 0);
    CHECK_OK(morph_free(ctx, pooled, sizeof(Token), token_type));
    CHECK_STATUS(morph_free(ctx, pooled, sizeof(Token), token_type), MORPH_ERR_BAD_FREE);
    printf("double free refused: %s\n", morph_last_error_message());
    CHECK_OK(morph_reset(ctx)); /* every token freed at once */
    CHECK_STATUS(morph_collect(ctx, MORPH_COLLECT_MINOR), MORPH_ERR_WRONG_MODE);

    /* Arguments. */
    CHECK(morph_alloc_v2(ctx, sizeof(Token) - 1, token_type, MORPH_ALLOC_DEFAULT) == NULL);
    CHECK(morph_last_error() == MORPH_ERR_TYPE);
    CHECK(morph_alloc_v2(ctx, 8, NULL, 0x100) == NULL);
    CHECK(morph_last_error() == MORPH_ERR_INVALID_ARGUMENT);
    size_t bad_offsets[] = {4};
    MorphTypeDesc bad = desc;
    bad.ref_offsets = bad_offsets;
    bad.ref_count = 1;
    const MorphTypeInfo *never = NULL;
    CHECK_STATUS(morph_type_register(&bad, &never), MORPH_ERR_INVALID_ARGUMENT);
    printf("misaligned reference offset refused: %s\n", morph_last_error_message());

    /* Handles. */
    CHECK(morph_alloc_v2(NULL, 8, NULL, 0) == NULL && morph_last_error() == MORPH_ERR_NULL);
    MorphArena *arena = NULL;
    CHECK_OK(morph_arena_create(0, 0, &arena));
    CHECK_STATUS(morph_collect((MorphContext *)(void *)arena, MORPH_COLLECT_MINOR),
                 MORPH_ERR_BAD_HANDLE);
    pthread_t thread;
    void *result = NULL;
    CHECK(pthread_create(&thread, NULL, use_from_another_thread, ctx) == 0);
    CHECK(pthread_join(thread, &result) == 0);
    CHECK(*(MorphStatus *)result == MORPH_ERR_WRONG_THREAD);
    CHECK_OK(morph_context_destroy(ctx));
    CHECK(mph_alloc(ctx, 8, NULL) == NULL && morph_last_error() == MORPH_ERR_DESTROYED);
    CHECK_STATUS(morph_context_destroy(ctx), MORPH_ERR_DESTROYED);
    printf("use after destroy refused: %s\n", morph_last_error_message());

    /* The arena and pools on their own, as a C compiler uses them. */
    for (int unit = 0; unit < 3; unit++) {
        for (int i = 0; i < 50000; i++) {
            Token *token = (Token *)morph_arena_alloc(arena, sizeof(Token), 0);
            CHECK(token != NULL && ((uintptr_t)token % 8) == 0);
            token->text = morph_arena_strdup(arena, "identifier");
            CHECK(token->text != NULL && strcmp(token->text, "identifier") == 0);
        }
        CHECK(morph_arena_alloc(arena, 16, 3) == NULL); /* not a power of two */
        MorphArenaStats arena_stats;
        CHECK_OK(morph_arena_stats(arena, &arena_stats));
        CHECK(arena_stats.used_bytes >= 50000 * sizeof(Token));
        CHECK_OK(morph_arena_reset(arena));
    }
    MorphArenaStats arena_stats;
    CHECK_OK(morph_arena_stats(arena, &arena_stats));
    CHECK(arena_stats.resets == 3 && arena_stats.used_bytes == 0);
    CHECK_OK(morph_arena_destroy(arena));

    MorphPool *pool = NULL;
    CHECK_OK(morph_pool_create(sizeof(Token), &pool));
    void *slots[100];
    for (int i = 0; i < 100; i++) {
        slots[i] = morph_pool_alloc(pool);
        CHECK(slots[i] != NULL);
    }
    CHECK_STATUS(morph_pool_free(pool, (char *)slots[3] + 8), MORPH_ERR_BAD_FREE);
    for (int i = 0; i < 100; i++) {
        CHECK_OK(morph_pool_free(pool, slots[i]));
    }
    CHECK_STATUS(morph_pool_free(pool, slots[0]), MORPH_ERR_BAD_FREE);
    MorphPoolStats pool_stats;
    CHECK_OK(morph_pool_stats(pool, &pool_stats));
    CHECK(pool_stats.live_slots == 0 && pool_stats.total_allocs == 100);
    CHECK_OK(morph_pool_destroy(pool));

    /* MORPH_MEM_MODE switches a V2 runtime's mode without a rebuild. */
    CHECK(setenv("MORPH_MEM_MODE", "compiler", 1) == 0);
    MorphContext *switched = NULL;
    CHECK_OK(morph_context_create_preset(MORPH_MODE_RUNTIME, &switched));
    MorphMemConfig in_force;
    CHECK_OK(morph_context_config(switched, &in_force));
    CHECK(in_force.mode == MORPH_MODE_COMPILER);
    CHECK_OK(morph_context_destroy(switched));
    CHECK(setenv("MORPH_MEM_MODE", "turbo", 1) == 0);
    CHECK_STATUS(morph_context_create_preset(MORPH_MODE_RUNTIME, &switched), MORPH_ERR_CONFIG);
    printf("unknown MORPH_MEM_MODE refused: %s\n", morph_last_error_message());
    CHECK(unsetenv("MORPH_MEM_MODE") == 0);

    /* Configurations from fields are validated. */
    MorphMemConfig config;
    CHECK_OK(morph_config_preset(MORPH_MODE_SERVER, &config));
    config.nursery_size = config.heap_size_hint;
    CHECK_STATUS(morph_config_validate(&config), MORPH_ERR_CONFIG);
    CHECK_STATUS(morph_context_create(&config, &switched), MORPH_ERR_CONFIG);
    printf("bad configuration refused: %s\n", morph_last_error_message());
    MorphMemConfig detected = morph_detect_config();
    CHECK_OK(morph_config_validate(&detected));
    printf("compat: ok\n");
    return 0;
}
