/*
 * The C side of the allocation benchmark (`cargo run --release -p morph-capi
 * --example alloc_ratio` compiles and runs it next to the same workloads on
 * the Rust safe API, and prints the ratios).
 *
 * Usage: alloc WORKLOAD ROUNDS — prints one line per round:
 *   WORKLOAD OBJECTS NANOSECONDS CHECKSUM
 *
 * Workloads (identical on the Rust side):
 *   churn  — 4,000,000 nodes {next, value}, each dead at once
 *   list   — 4,000,000 nodes linked to the previous head (a rooted list
 *            cut every 1,000 nodes: some survive a minor collection)
 *   trees  — binary trees of depth 16 built bottom-up, 32 times; the
 *            children of each node rooted in a shadow-stack frame and
 *            stored through the write barrier
 */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "morph_mem_v2.h"

typedef struct Node {
    struct Node *next;
    int64_t value;
} Node;

typedef struct Tree {
    struct Tree *left;
    struct Tree *right;
    int64_t item;
} Tree;

static const MorphTypeInfo *node_type;
static const MorphTypeInfo *tree_type;

static void fail(const char *what) {
    fprintf(stderr, "alloc bench: %s: %s\n", what, morph_last_error_message());
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum { NODES = 4000000, TREE_DEPTH = 16, TREES = 32 };

static int64_t churn(MorphContext *ctx) {
    int64_t checksum = 0;
    for (int64_t i = 0; i < NODES; i++) {
        Node *node = (Node *)morph_alloc_v2(ctx, sizeof(Node), node_type, MORPH_ALLOC_DEFAULT);
        if (node == NULL) {
            fail("churn");
        }
        node->value = i;
        checksum += node->value;
    }
    return checksum;
}

static int64_t list(MorphContext *ctx) {
    void *head[1] = {NULL};
    MorphFrame frame;
    if (morph_frame_push(ctx, &frame, head, 1) != MORPH_OK) {
        fail("push");
    }
    int64_t checksum = 0;
    for (int64_t i = 0; i < NODES; i++) {
        Node *node = (Node *)morph_alloc_v2(ctx, sizeof(Node), node_type, MORPH_ALLOC_DEFAULT);
        if (node == NULL) {
            fail("list");
        }
        node->value = i;
        MORPH_STORE(ctx, node, next, (Node *)head[0]);
        head[0] = i % 1000 == 999 ? NULL : node;
        checksum += node->value;
    }
    morph_frame_pop(ctx, &frame);
    return checksum;
}

static Tree *make_tree(MorphContext *ctx, int depth) {
    void *children[2] = {NULL, NULL};
    MorphFrame frame;
    if (depth > 0) {
        if (morph_frame_push(ctx, &frame, children, 2) != MORPH_OK) {
            fail("push");
        }
        children[0] = make_tree(ctx, depth - 1);
        children[1] = make_tree(ctx, depth - 1);
    }
    Tree *tree = (Tree *)morph_alloc_v2(ctx, sizeof(Tree), tree_type, MORPH_ALLOC_DEFAULT);
    if (tree == NULL) {
        fail("trees");
    }
    tree->item = depth;
    if (depth > 0) {
        MORPH_STORE(ctx, tree, left, (Tree *)children[0]);
        MORPH_STORE(ctx, tree, right, (Tree *)children[1]);
        morph_frame_pop(ctx, &frame);
    }
    return tree;
}

static int64_t check_tree(const Tree *tree) {
    return tree == NULL ? 0 : 1 + check_tree(tree->left) + check_tree(tree->right);
}

static int64_t trees(MorphContext *ctx) {
    int64_t checksum = 0;
    for (int i = 0; i < TREES; i++) {
        checksum += check_tree(make_tree(ctx, TREE_DEPTH));
    }
    return checksum;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: alloc churn|list|trees ROUNDS\n");
        return 2;
    }
    const char *workload = argv[1];
    int rounds = atoi(argv[2]);
    size_t node_refs[] = {offsetof(Node, next)};
    MorphTypeDesc desc = {0};
    desc.name = "Node";
    desc.size = sizeof(Node);
    desc.ref_offsets = node_refs;
    desc.ref_count = 1;
    if (morph_type_register(&desc, &node_type) != MORPH_OK) {
        fail("register Node");
    }
    size_t tree_refs[] = {offsetof(Tree, left), offsetof(Tree, right)};
    desc.name = "Tree";
    desc.size = sizeof(Tree);
    desc.ref_offsets = tree_refs;
    desc.ref_count = 2;
    if (morph_type_register(&desc, &tree_type) != MORPH_OK) {
        fail("register Tree");
    }
    for (int round = 0; round < rounds; round++) {
        /* A fresh context per round, as the Rust side makes a fresh heap. */
        MorphContext *ctx = NULL;
        if (morph_context_create_preset(MORPH_MODE_RUNTIME, &ctx) != MORPH_OK) {
            fail("create");
        }
        uint64_t start = now_ns();
        int64_t checksum;
        int64_t objects;
        if (strcmp(workload, "churn") == 0) {
            checksum = churn(ctx);
            objects = NODES;
        } else if (strcmp(workload, "list") == 0) {
            checksum = list(ctx);
            objects = NODES;
        } else {
            checksum = trees(ctx);
            objects = (int64_t)TREES * ((1 << (TREE_DEPTH + 1)) - 1);
        }
        uint64_t elapsed = now_ns() - start;
        printf("%s %lld %llu %lld\n", workload, (long long)objects, (unsigned long long)elapsed,
               (long long)checksum);
        fflush(stdout);
        morph_context_destroy(ctx);
    }
    return 0;
}
