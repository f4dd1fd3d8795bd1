// Linux system calls Swift's Glibc module does not expose (they need _GNU_SOURCE).
#ifndef CBERTH_SYSTEM_H
#define CBERTH_SYSTEM_H

#include <stdint.h>

/// Starts writeback of a file range without waiting for it (sync_file_range, SYNC_FILE_RANGE_WRITE).
/// Returns 0, or -1 with errno set; a no-op returning 0 where the call does not exist.
int berth_start_writeback(int fd, int64_t offset, int64_t length);

/// Limits glibc's malloc arenas (one per thread by default), which bounds the memory a server
/// with many threads keeps, and, when `mmap_threshold` > 0, fixes the size above which
/// allocations are mapped instead of letting it slide; returns 1 on success.
int berth_tune_malloc(int arenas, int mmap_threshold);

#endif
