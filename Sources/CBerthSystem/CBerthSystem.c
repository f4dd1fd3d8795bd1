#define _GNU_SOURCE
#include "CBerthSystem.h"
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
