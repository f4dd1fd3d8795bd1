// Linux system calls Swift's Glibc module does not expose (they need _GNU_SOURCE).
#ifndef CBERTH_SYSTEM_H
#define CBERTH_SYSTEM_H

#include <stddef.h>
#include <stdint.h>

/// Starts writeback of a file range without waiting for it (sync_file_range, SYNC_FILE_RANGE_WRITE).
/// Returns 0, or -1 with errno set; a no-op returning 0 where the call does not exist.
int berth_start_writeback(int fd, int64_t offset, int64_t length);

/// Opens an existing file for writing with O_DIRECT (data goes from the caller's aligned buffer
/// to the disk, bypassing the page cache). Returns the descriptor, or -1 with errno set (EINVAL
/// where the file system does not support it); -1 with ENOTSUP where O_DIRECT does not exist.
int berth_open_direct(const char *_Nonnull path);

/// Limits glibc's malloc arenas (one per thread by default), which bounds the memory a server
/// with many threads keeps, and, when `mmap_threshold` > 0, fixes the size above which
/// allocations are mapped instead of letting it slide; returns 1 on success.
int berth_tune_malloc(int arenas, int mmap_threshold);

/// Hands the malloc heap's free pages back to the system (malloc_trim): after a burst of traffic
/// glibc otherwise keeps them, and the resident size never comes down. Returns 1 if memory was released.
int berth_release_free_memory(void);

/// A pool of mapped 512 KiB blocks for the buffers that stream blobs out. Blocks are reused
/// (no page faults per buffer) and never come from the malloc heap, which otherwise grows with
/// every freed transfer buffer under parallel pulls; at most 16 MiB of free blocks are kept.
/// Other sizes fall through to malloc. Signatures match NIO's custom ByteBuffer allocator.
#define BERTH_POOL_BLOCK (512 * 1024)
void *_Nullable berth_pool_allocate(size_t size);
void *_Nullable berth_pool_reallocate(void *_Nullable ptr, size_t old_size, size_t new_size);
void berth_pool_deallocate(void *_Nonnull ptr);
void berth_pool_copy(void *_Nonnull dst, const void *_Nonnull src, size_t count);

#endif
