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

int berth_limit_malloc_arenas(int arenas) {
#if defined(__linux__) && defined(M_ARENA_MAX)
    return mallopt(M_ARENA_MAX, arenas);
#else
    (void)arenas;
    return 0;
#endif
}
