/*
 * Bytes currently allocated by the process: ASan's count under the sanitizer, else
 * glibc's arena statistics. Tests use it to show memory stays flat however long the
 * input.
 */
#ifndef BT_TEST_HEAP_H
#define BT_TEST_HEAP_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
/* from the ASan runtime (sanitizer/allocator_interface.h) */
size_t __sanitizer_get_current_allocated_bytes(void);
static inline size_t heap_in_use(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
#include <malloc.h>
static inline size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
#endif

#endif
