/* The seed's reporting calls: morph_mem_print_stats and morph_mem_dump_stats. */
#include <stdint.h>

#include "check.h"

typedef struct Identifier {
    const char *name;
    int64_t hash;
} Identifier;

int main(int argc, char **argv) {
    CHECK(argc == 2);
    MorphContext *ctx = NULL;
    CHECK_OK(morph_context_create_preset(MORPH_MODE_RUNTIME, &ctx));
    MorphTypeDesc desc = {0};
    desc.name = "Identifier";
    desc.size = sizeof(Identifier);
    const MorphTypeInfo *identifier = NULL;
    CHECK_OK(morph_type_register(&desc, &identifier));
    desc.name = "InfixExpr";
    desc.size = 48;
    const MorphTypeInfo *infix = NULL;
    CHECK_OK(morph_type_register(&desc, &infix));

    for (int i = 0; i < 300000; i++) {
        CHECK(mph_alloc(ctx, sizeof(Identifier), identifier) != NULL);
        if (i % 2 == 0) {
            CHECK(mph_alloc(ctx, 48, infix) != NULL);
        }
    }
    CHECK_OK(morph_collect(ctx, MORPH_COLLECT_MAJOR));
    fflush(stdout);
    CHECK_OK(morph_mem_print_stats(ctx));
    CHECK_OK(morph_mem_dump_stats(ctx, argv[1]));
    CHECK_STATUS(morph_mem_dump_stats(ctx, "/nonexistent-dir/stats.json"), MORPH_ERR_IO);

    MorphMemStats stats;
    CHECK_OK(morph_mem_get_stats(ctx, &stats));
    CHECK(stats.object_count == 450000);
    CHECK(stats.gc_count > 0 && stats.heap_bytes > 0);
    CHECK_OK(morph_context_destroy(ctx));
    return 0;
}
