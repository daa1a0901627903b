/* ccoll: export macro, C++ linkage guards and version numbers.
 * Every public header includes this one first. */
#ifndef CCOLL_EXPORT_H
#define CCOLL_EXPORT_H

#define CC_VERSION_MAJOR 0
#define CC_VERSION_MINOR 1
#define CC_VERSION_PATCH 0

/* Symbols are hidden by default (-fvisibility=hidden); CC_API marks the
 * public ones. Consumers of the static library see the same declarations. */
#if defined(_WIN32)
#  if defined(CCOLL_BUILDING)
#    define CC_API __declspec(dllexport)
#  else
#    define CC_API
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define CC_API __attribute__((visibility("default")))
#else
#  define CC_API
#endif

#ifdef __cplusplus
#  define CC_BEGIN_DECLS extern "C" {
#  define CC_END_DECLS }
#else
#  define CC_BEGIN_DECLS
#  define CC_END_DECLS
#endif

#endif /* CCOLL_EXPORT_H */
