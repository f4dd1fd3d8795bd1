#define _GNU_SOURCE
#include "CBerthSystem.h"
#include <errno.h>
#include <fcntl.h>
#ifdef __linux__
#include <malloc.h>
#endif

int berth_start_writeback(int fd, int64_t offset, int64_t length) {
#ifdef __linux__
    return sync_file_range(fd, (off64_t)offset, (off64_t)length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}

int berth_open_direct(const char *path) {
#if defined(__linux__) && defined(O_DIRECT)
    return open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
#else
    (void)path;
    errno = ENOTSUP;
    return -1;
#endif
}

int berth_tune_malloc(int arenas, int mmap_threshold) {
#if defined(__linux__) && defined(M_ARENA_MAX)
    int ok = mallopt(M_ARENA_MAX, arenas);
    if (mmap_threshold > 0) ok = ok && mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    return ok;
#else
    (void)arenas; (void)mmap_threshold;
    return 0;
#endif
}

int berth_release_free_memory(void) {
#ifdef __GLIBC__
    return malloc_trim(0);
#else
    return 0;
#endif
}

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

// Each allocation carries a header saying where it came from, so deallocate can route it.
#define BERTH_HEADER 64
#define BERTH_POOL_MAGIC 0x6265727468706f6fULL  /* "berthpoo" */
#define BERTH_HEAP_MAGIC 0x6265727468686561ULL  /* "berthhea" */
#define BERTH_POOL_KEEP 32

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void *pool_free[BERTH_POOL_KEEP];
static int pool_free_count = 0;

void *berth_pool_allocate(size_t size) {
    if (size == BERTH_POOL_BLOCK) {
        void *base = NULL;
        pthread_mutex_lock(&pool_lock);
        if (pool_free_count > 0) base = pool_free[--pool_free_count];
        pthread_mutex_unlock(&pool_lock);
        if (base == NULL) {
            base = mmap(NULL, BERTH_POOL_BLOCK + BERTH_HEADER, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (base == MAP_FAILED) base = NULL;
        }
        if (base != NULL) {
            *(uint64_t *)base = BERTH_POOL_MAGIC;
            return (char *)base + BERTH_HEADER;
        }
    }
    char *base = malloc(size + BERTH_HEADER);
    if (base == NULL) return NULL;
    *(uint64_t *)base = BERTH_HEAP_MAGIC;
    return base + BERTH_HEADER;
}

void berth_pool_deallocate(void *ptr) {
    char *base = (char *)ptr - BERTH_HEADER;
    if (*(uint64_t *)base == BERTH_POOL_MAGIC) {
        pthread_mutex_lock(&pool_lock);
        if (pool_free_count < BERTH_POOL_KEEP) {
            pool_free[pool_free_count++] = base;
            pthread_mutex_unlock(&pool_lock);
            return;
        }
        pthread_mutex_unlock(&pool_lock);
        munmap(base, BERTH_POOL_BLOCK + BERTH_HEADER);
        return;
    }
    free(base);
}

void *berth_pool_reallocate(void *ptr, size_t old_size, size_t new_size) {
    if (ptr == NULL) return berth_pool_allocate(new_size);
    char *base = (char *)ptr - BERTH_HEADER;
    if (*(uint64_t *)base == BERTH_HEAP_MAGIC) {
        char *moved = realloc(base, new_size + BERTH_HEADER);
        return moved == NULL ? NULL : moved + BERTH_HEADER;
    }
    void *fresh = berth_pool_allocate(new_size);
    if (fresh == NULL) return NULL;
    memcpy(fresh, ptr, old_size < new_size ? old_size : new_size);
    berth_pool_deallocate(ptr);
    return fresh;
}

void berth_pool_copy(void *dst, const void *src, size_t count) {
    memcpy(dst, src, count);
}
