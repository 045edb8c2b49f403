/*
 * The few syscalls Node's fs does not expose and a root-filesystem tool
 * cannot do without: extended attributes on raw-byte paths without
 * following symlinks, flock(2) for the store lock (released by the kernel
 * when a process dies, even by SIGKILL), mknod(2) for device nodes, and
 * lseek(SEEK_DATA) so sparse files are not read hole by hole; and one
 * call per directory for pack's walk (readdir, lstat and xattrs of every
 * entry), because a Node fs call costs more than the syscall under it. And, when
 * built with libdeflate (native/probe.cjs decides), a gzip member encoder that
 * runs on libuv's thread pool: three times less CPU than zlib for the same size.
 *
 * Paths and xattr names are Buffers, never strings: a Linux path is bytes,
 * and a non-UTF-8 name must reach the kernel unchanged.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>
#ifdef ROOTFS_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

/* Throws an Error shaped like Node's fs errors (code, errno, syscall). */
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value msg, code, error, num, sc;
  const char *name = strerrorname_np(err);
  char text[256];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, -err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
  return NULL;
}

/* Copies a Buffer argument into a NUL-terminated C string the caller frees. */
static char *buffer_to_cstr(napi_env env, napi_value value) {
  void *data;
  size_t len;
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  if (!is_buffer) {
    napi_throw_type_error(env, NULL, "expected a Buffer");
    return NULL;
  }
  napi_get_buffer_info(env, value, &data, &len);
  if (memchr(data, 0, len) != NULL) {
    napi_throw_type_error(env, NULL, "path or name contains a NUL byte");
    return NULL;
  }
  char *s = malloc(len + 1);
  memcpy(s, data, len);
  s[len] = 0;
  return s;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < want) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return false;
  }
  return true;
}

/* llistxattr(path: Buffer): Buffer[] of names */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  if (!get_args(env, info, 1, argv)) return NULL;
  char *path = buffer_to_cstr(env, argv[0]);
  if (!path) return NULL;
  ssize_t size;
  char *list = NULL;
  for (;;) {
    size = llistxattr(path, NULL, 0);
    if (size < 0) break;
    free(list);
    list = malloc(size > 0 ? size : 1);
    size = llistxattr(path, list, size);
    if (size >= 0 || errno != ERANGE) break; /* ERANGE: it grew meanwhile */
  }
  int err = errno;
  free(path);
  if (size < 0) {
    free(list);
    /* No xattr support on this filesystem means no xattrs, not a failure. */
    if (err == ENOTSUP) {
      napi_create_array(env, &result);
      return result;
    }
    return throw_errno(env, err, "llistxattr");
  }
  napi_create_array(env, &result);
  uint32_t n = 0;
  for (ssize_t i = 0; i < size;) {
    size_t len = strlen(list + i);
    napi_value name;
    void *copy;
    napi_create_buffer_copy(env, len, list + i, &copy, &name);
    napi_set_element(env, result, n++, name);
    i += len + 1;
  }
  free(list);
  return result;
}

/* lgetxattr(path: Buffer, name: Buffer): Buffer | null (null if it vanished) */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  if (!get_args(env, info, 2, argv)) return NULL;
  char *path = buffer_to_cstr(env, argv[0]);
  if (!path) return NULL;
  char *name = buffer_to_cstr(env, argv[1]);
  if (!name) { free(path); return NULL; }
  ssize_t size;
  char *value = NULL;
  for (;;) {
    size = lgetxattr(path, name, NULL, 0);
    if (size < 0) break;
    free(value);
    value = malloc(size > 0 ? size : 1);
    size = lgetxattr(path, name, value, size);
    if (size >= 0 || errno != ERANGE) break;
  }
  int err = errno;
  free(path);
  free(name);
  if (size < 0) {
    free(value);
    if (err == ENODATA) {
      napi_get_null(env, &result);
      return result;
    }
    return throw_errno(env, err, "lgetxattr");
  }
  void *copy;
  napi_create_buffer_copy(env, size, value, &copy, &result);
  free(value);
  return result;
}

/* lsetxattr(path: Buffer, name: Buffer, value: Buffer): undefined */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  char *path = buffer_to_cstr(env, argv[0]);
  if (!path) return NULL;
  char *name = buffer_to_cstr(env, argv[1]);
  if (!name) { free(path); return NULL; }
  void *value;
  size_t len;
  napi_get_buffer_info(env, argv[2], &value, &len);
  int rc = lsetxattr(path, name, value, len, 0);
  int err = errno;
  free(path);
  free(name);
  if (rc < 0) return throw_errno(env, err, "lsetxattr");
  return NULL;
}

/* flock(fd: number, exclusive: boolean, wait: boolean): boolean (false if busy and !wait) */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  if (!get_args(env, info, 3, argv)) return NULL;
  int32_t fd;
  bool exclusive, wait;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_bool(env, argv[1], &exclusive);
  napi_get_value_bool(env, argv[2], &wait);
  int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  int rc;
  do {
    rc = flock(fd, op);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (errno == EWOULDBLOCK && !wait) {
      napi_get_boolean(env, false, &result);
      return result;
    }
    return throw_errno(env, errno, "flock");
  }
  napi_get_boolean(env, true, &result);
  return result;
}

/* mknod(path: Buffer, mode: number, major: number, minor: number): undefined */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  char *path = buffer_to_cstr(env, argv[0]);
  if (!path) return NULL;
  uint32_t mode, major_, minor_;
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &major_);
  napi_get_value_uint32(env, argv[3], &minor_);
  int rc = mknod(path, mode, makedev(major_, minor_));
  int err = errno;
  free(path);
  if (rc < 0) return throw_errno(env, err, "mknod");
  return NULL;
}

/*
 * seekData(fd: number, offset: number): number
 * The offset of the next byte of data at or after offset, or -1 when only a
 * hole remains. Filesystems without SEEK_DATA report all of the file as data.
 */
static napi_value js_seek_data(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  if (!get_args(env, info, 2, argv)) return NULL;
  int32_t fd;
  int64_t offset;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int64(env, argv[1], &offset);
  off_t r = lseek(fd, offset, SEEK_DATA);
  if (r < 0) {
    if (errno == ENXIO) r = -1;
    else if (errno == EINVAL || errno == ENOTSUP) r = offset;
    else return throw_errno(env, errno, "lseek");
  }
  napi_create_int64(env, r, &result);
  return result;
}

/* seekHole(fd: number, offset: number): number: the next hole (or EOF) at or after offset */
static napi_value js_seek_hole(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  if (!get_args(env, info, 2, argv)) return NULL;
  int32_t fd;
  int64_t offset;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int64(env, argv[1], &offset);
  off_t r = lseek(fd, offset, SEEK_HOLE);
  if (r < 0) {
    if (errno == EINVAL || errno == ENOTSUP) {
      struct stat st;
      if (fstat(fd, &st) < 0) return throw_errno(env, errno, "fstat");
      r = st.st_size;
    } else if (errno == ENXIO) {
      r = -1;
    } else {
      return throw_errno(env, errno, "lseek");
    }
  }
  napi_create_int64(env, r, &result);
  return result;
}

/* A growable byte buffer; on allocation failure `failed` is set and appends are dropped. */
typedef struct {
  uint8_t *data;
  size_t len, cap;
  bool failed;
} bytes;

static void *bytes_reserve(bytes *b, size_t more) {
  if (b->failed) return NULL;
  if (b->len + more > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) { b->failed = true; return NULL; }
    b->data = p;
    b->cap = cap;
  }
  void *at = b->data + b->len;
  b->len += more;
  return at;
}

static void bytes_append(bytes *b, const void *src, size_t n) {
  void *at = bytes_reserve(b, n);
  if (at) memcpy(at, src, n);
}

/* Little-endian whatever the host, as src/pack/walk.ts reads it. */
static void bytes_append_u32le(bytes *b, uint32_t v) {
  uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  bytes_append(b, le, 4);
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The stat fields the walk hands on, in this order (src/pack/walk.ts reads them). */
enum { F_DEV, F_INO, F_MODE, F_NLINK, F_UID, F_GID, F_RDEV, F_SIZE, F_BLOCKS, F_MTIME, F_CTIME, STAT_FIELDS };

/*
 * Appends the entry's xattrs to `out` as records (u32 name length, name,
 * u32 value length, value), names sorted; security.selinux left out unless
 * asked for. Returns 0, or the errno of a failed call (the caller's JS
 * repeats the call to report it as Node reports errors).
 */
static int read_xattrs(const char *path, bool selinux, bytes *out) {
  char stack[4096];
  char *list = stack;
  ssize_t size = llistxattr(path, stack, sizeof stack);
  if (size < 0 && errno == ERANGE) {
    list = NULL;
    for (;;) {
      size = llistxattr(path, NULL, 0);
      if (size < 0) break;
      free(list);
      list = malloc(size > 0 ? size : 1);
      if (!list) return ENOMEM;
      size = llistxattr(path, list, size);
      if (size >= 0 || errno != ERANGE) break;
    }
  }
  int err = errno;
  if (size <= 0) {
    if (list != stack) free(list);
    return size < 0 && err != ENOTSUP ? err : 0;
  }
  size_t count = 0;
  for (ssize_t i = 0; i < size; i += strlen(list + i) + 1) count++;
  char **names = malloc(count * sizeof *names);
  if (!names) { if (list != stack) free(list); return ENOMEM; }
  count = 0;
  for (ssize_t i = 0; i < size; i += strlen(list + i) + 1) names[count++] = list + i;
  qsort(names, count, sizeof *names, compare_names);
  int result = 0;
  char *value = NULL;
  for (size_t k = 0; k < count && result == 0; k++) {
    if (!selinux && strcmp(names[k], "security.selinux") == 0) continue;
    ssize_t vsize;
    for (;;) {
      vsize = lgetxattr(path, names[k], NULL, 0);
      if (vsize < 0) break;
      free(value);
      value = malloc(vsize > 0 ? vsize : 1);
      if (!value) { vsize = -1; errno = ENOMEM; break; }
      vsize = lgetxattr(path, names[k], value, vsize);
      if (vsize >= 0 || errno != ERANGE) break;
    }
    if (vsize < 0) {
      if (errno != ENODATA) result = errno; /* ENODATA: removed between list and get */
      continue;
    }
    uint32_t nlen = strlen(names[k]), vlen = (uint32_t)vsize;
    bytes_append_u32le(out, nlen);
    bytes_append(out, names[k], nlen);
    bytes_append_u32le(out, vlen);
    bytes_append(out, value, vlen);
  }
  free(value);
  free(names);
  if (list != stack) free(list);
  return result;
}

static napi_value typed_array(napi_env env, napi_typedarray_type type, size_t elem, const void *src, size_t count) {
  napi_value ab, arr;
  void *data;
  napi_create_arraybuffer(env, count * elem, &data, &ab);
  if (count) memcpy(data, src, count * elem);
  napi_create_typedarray(env, type, count, ab, 0, &arr);
  return arr;
}

/*
 * readDirectory(path: Buffer, selinux: boolean):
 *   [names: Buffer, nameEnds: Uint32Array, stats: BigInt64Array (STAT_FIELDS per entry),
 *    errors: Int32Array (lstat errno, xattr errno per entry), xattrs: Buffer, xattrEnds: Uint32Array]
 * The entries of a directory sorted by raw bytes (GNU tar --sort=name), each
 * lstat'ed (fstatat on the directory's fd: no path lookup per entry) and its
 * xattrs read. A failed readdir throws; a failed lstat or xattr read is an
 * errno in `errors` for the caller to redo and report.
 */
static napi_value js_read_directory(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char *dir = buffer_to_cstr(env, argv[0]);
  if (!dir) return NULL;
  bool selinux = false;
  napi_get_value_bool(env, argv[1], &selinux);
  DIR *d = opendir(dir);
  if (!d) {
    int err = errno;
    free(dir);
    return throw_errno(env, err, "opendir");
  }
  bytes names = {0}, ptrs = {0};
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' && (de->d_name[1] == 0 || (de->d_name[1] == '.' && de->d_name[2] == 0))) continue;
    size_t off = names.len;
    bytes_append(&names, de->d_name, strlen(de->d_name) + 1);
    bytes_append(&ptrs, &off, sizeof off);
    errno = 0;
  }
  int err = errno;
  if (err || names.failed || ptrs.failed) {
    closedir(d);
    free(dir);
    free(names.data);
    free(ptrs.data);
    return throw_errno(env, err ? err : ENOMEM, "readdir");
  }
  size_t n = ptrs.len / sizeof(size_t);
  char **sorted = malloc((n ? n : 1) * sizeof *sorted);
  for (size_t i = 0; sorted && i < n; i++) sorted[i] = (char *)names.data + ((size_t *)ptrs.data)[i];
  free(ptrs.data);
  if (sorted) qsort(sorted, n, sizeof *sorted, compare_names);

  size_t dirlen = strlen(dir);
  bytes flat = {0}, xattrs = {0}, path = {0};
  int64_t *stats = calloc(n ? n * STAT_FIELDS : 1, sizeof *stats);
  int32_t *errors = calloc(n ? n * 2 : 1, sizeof *errors);
  uint32_t *name_ends = malloc((n ? n : 1) * sizeof *name_ends);
  uint32_t *xattr_ends = malloc((n ? n : 1) * sizeof *xattr_ends);
  bool failed = !sorted || !stats || !errors || !name_ends || !xattr_ends;
  int fd = dirfd(d);
  for (size_t i = 0; i < n && !failed; i++) {
    const char *name = sorted[i];
    size_t len = strlen(name);
    bytes_append(&flat, name, len);
    name_ends[i] = (uint32_t)flat.len;
    struct stat st;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      errors[2 * i] = errno;
    } else {
      int64_t *f = stats + i * STAT_FIELDS;
      f[F_DEV] = (int64_t)st.st_dev;
      f[F_INO] = (int64_t)st.st_ino;
      f[F_MODE] = st.st_mode;
      f[F_NLINK] = (int64_t)st.st_nlink;
      f[F_UID] = st.st_uid;
      f[F_GID] = st.st_gid;
      f[F_RDEV] = (int64_t)st.st_rdev;
      f[F_SIZE] = st.st_size;
      f[F_BLOCKS] = st.st_blocks;
      f[F_MTIME] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
      f[F_CTIME] = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
      path.len = 0;
      bytes_append(&path, dir, dirlen);
      if (dirlen == 0 || dir[dirlen - 1] != '/') bytes_append(&path, "/", 1);
      bytes_append(&path, name, len + 1);
      if (!path.failed) errors[2 * i + 1] = read_xattrs((char *)path.data, selinux, &xattrs);
    }
    xattr_ends[i] = (uint32_t)xattrs.len;
    failed = flat.failed || xattrs.failed || path.failed;
  }
  closedir(d);
  free(dir);
  free(sorted);
  free(names.data);
  free(path.data);
  napi_value result = NULL;
  if (failed) {
    throw_errno(env, ENOMEM, "readdir");
  } else {
    napi_value items[6];
    void *copy;
    napi_create_buffer_copy(env, flat.len, flat.data ? (void *)flat.data : (void *)"", &copy, &items[0]);
    items[1] = typed_array(env, napi_uint32_array, 4, name_ends, n);
    items[2] = typed_array(env, napi_bigint64_array, 8, stats, n * STAT_FIELDS);
    items[3] = typed_array(env, napi_int32_array, 4, errors, n * 2);
    napi_create_buffer_copy(env, xattrs.len, xattrs.data ? (void *)xattrs.data : (void *)"", &copy, &items[4]);
    items[5] = typed_array(env, napi_uint32_array, 4, xattr_ends, n);
    napi_create_array_with_length(env, 6, &result);
    for (uint32_t k = 0; k < 6; k++) napi_set_element(env, result, k, items[k]);
  }
  free(flat.data);
  free(xattrs.data);
  free(stats);
  free(errors);
  free(name_ends);
  free(xattr_ends);
  return result;
}

#ifdef ROOTFS_HAVE_LIBDEFLATE
/*
 * gzipMember(input: Buffer, level: number): Promise<Buffer>
 * One complete RFC 1952 member (header, raw deflate, CRC-32, ISIZE) of the
 * input, compressed on a thread-pool worker. libdeflate has no streaming and
 * no dictionary, so src/compress/gzip.ts makes each block its own member;
 * members concatenate into a valid gzip file. The header is fixed (no name,
 * mtime 0, OS 3) so the bytes depend only on input, level and libdeflate.
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref;
  const uint8_t *in;
  size_t in_len;
  uint8_t *out;
  size_t out_len;
  int level;
} gzip_job;

/* One compressor per worker thread and level: allocating one costs more than compressing a small block. */
static __thread struct libdeflate_compressor *thread_compressor;
static __thread int thread_level;

static void gzip_execute(napi_env env, void *data) {
  (void)env;
  gzip_job *job = data;
  if (!thread_compressor || thread_level != job->level) {
    if (thread_compressor) libdeflate_free_compressor(thread_compressor);
    thread_compressor = libdeflate_alloc_compressor(job->level);
    thread_level = job->level;
    if (!thread_compressor) return;
  }
  size_t bound = libdeflate_deflate_compress_bound(thread_compressor, job->in_len);
  job->out = malloc(10 + bound + 8);
  if (!job->out) return;
  static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  memcpy(job->out, header, 10);
  /* XFL as gzip sets it: 2 for the slowest levels, 4 for the fastest. */
  job->out[8] = job->level >= 9 ? 2 : job->level <= 1 ? 4 : 0;
  size_t n = libdeflate_deflate_compress(thread_compressor, job->in, job->in_len, job->out + 10, bound);
  if (n == 0) { free(job->out); job->out = NULL; return; }
  uint32_t crc = libdeflate_crc32(0, job->in, job->in_len);
  uint32_t isize = (uint32_t)job->in_len;
  uint8_t *t = job->out + 10 + n;
  for (int i = 0; i < 4; i++) t[i] = (uint8_t)(crc >> (8 * i));
  for (int i = 0; i < 4; i++) t[4 + i] = (uint8_t)(isize >> (8 * i));
  job->out_len = 10 + n + 8;
}

static void free_malloced(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void gzip_complete(napi_env env, napi_status status, void *data) {
  gzip_job *job = data;
  napi_value result;
  if (status == napi_ok && job->out) {
    napi_create_external_buffer(env, job->out_len, job->out, free_malloced, NULL, &result);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    free(job->out);
    napi_value msg;
    napi_create_string_utf8(env, "libdeflate: out of memory", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &result);
    napi_reject_deferred(env, job->deferred, result);
  }
  napi_delete_reference(env, job->input_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value js_gzip_member(napi_env env, napi_callback_info info) {
  napi_value argv[2], promise, name;
  if (!get_args(env, info, 2, argv)) return NULL;
  bool is_buffer = false;
  napi_is_buffer(env, argv[0], &is_buffer);
  if (!is_buffer) {
    napi_throw_type_error(env, NULL, "expected a Buffer");
    return NULL;
  }
  int32_t level;
  napi_get_value_int32(env, argv[1], &level);
  if (level < 0 || level > 12) {
    napi_throw_range_error(env, NULL, "libdeflate level must be 0-12");
    return NULL;
  }
  gzip_job *job = calloc(1, sizeof *job);
  void *in;
  napi_get_buffer_info(env, argv[0], &in, &job->in_len);
  job->in = in;
  job->level = level;
  /* The input stays alive (and unmoved: Buffers do not move) until the worker is done with it. */
  napi_create_reference(env, argv[0], 1, &job->input_ref);
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "rootfs:gzipMember", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, gzip_execute, gzip_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}
#endif

/*
 * PAR2's Reed-Solomon arithmetic: GF(2^16) with generator polynomial 0x1100B,
 * data as little-endian 16-bit words. gfMultiplyAdd adds coefficient × input
 * slice into each output slice, the inner loop of making recovery slices and
 * of rebuilding lost ones; JS is far too slow for hundreds of MB times dozens
 * of slices. As par2cmdline does, a product c·w is looked up in two 256-entry
 * tables per coefficient (c·low byte, c·high byte), built once per
 * (output, input) pair. Runs on the thread pool; the caller splits the outputs
 * between calls so that both cores work.
 */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gfMultiplyAdd reads PAR2's little-endian words as uint16_t"
#endif
static uint16_t gf_log[65536], gf_exp[65535 * 2];
#if defined(__x86_64__)
/*
 * 2: AVX2, 1: SSSE3, 0: only the 256-entry tables. Decided once, at load, by
 * the CPU; ROOTFS_GF_SIMD=0|1 forces a lower one, so that a test can check
 * that all three give the same bytes on one machine.
 */
static int gf_simd;
#endif

static void gf_init(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  gf_simd = __builtin_cpu_supports("avx2") ? 2 : __builtin_cpu_supports("ssse3") ? 1 : 0;
  const char *forced = getenv("ROOTFS_GF_SIMD");
  if (forced != NULL && atoi(forced) < gf_simd) gf_simd = atoi(forced);
#endif
  uint32_t x = 1;
  for (uint32_t i = 0; i < 65535; i++) {
    gf_exp[i] = gf_exp[i + 65535] = (uint16_t)x;
    gf_log[x] = (uint16_t)i;
    x <<= 1;
    if (x & 0x10000) x ^= 0x1100B;
  }
}

static inline uint16_t gf_mul(uint16_t a, uint16_t b) {
  return a == 0 || b == 0 ? 0 : gf_exp[gf_log[a] + gf_log[b]];
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref refs[3];
  uint8_t *out;
  const uint8_t *in;
  const uint16_t *coefficients;
  size_t slice, rows, cols;
} gf_job;

#if defined(__x86_64__)
#include <immintrin.h>
/*
 * The same product with byte shuffles, 16 or 32 words at a time: c·w is the
 * XOR of c·(nibble i << 4i) over w's four nibbles, each looked up in a
 * 16-entry table (one for the low byte of the product, one for the high), as
 * ParPar and par2cmdline's successors do; several times the speed of the
 * 256-entry tables, whose lookups cannot be vectorised.
 */
typedef struct { uint8_t lo[4][16], hi[4][16]; } nibble_tables;

static void nibble_tables_for(uint16_t k, nibble_tables *t) {
  for (int i = 0; i < 4; i++)
    for (int n = 0; n < 16; n++) {
      uint16_t p = gf_mul(k, (uint16_t)(n << (4 * i)));
      t->lo[i][n] = (uint8_t)p;
      t->hi[i][n] = (uint8_t)(p >> 8);
    }
}

__attribute__((target("avx2"))) static size_t gf_muladd_avx2(uint16_t *out, const uint16_t *in, size_t words, const nibble_tables *t) {
  __m256i lo[4], hi[4];
  for (int i = 0; i < 4; i++) {
    lo[i] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t->lo[i]));
    hi[i] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t->hi[i]));
  }
  const __m256i nibble = _mm256_set1_epi8(0x0f), low_byte = _mm256_set1_epi16(0xff);
  size_t w = 0;
  for (; w + 32 <= words; w += 32) {
    __m256i a = _mm256_loadu_si256((const __m256i *)(in + w)), b = _mm256_loadu_si256((const __m256i *)(in + w + 16));
    /* Low bytes and high bytes of the 32 words apart (in-lane, undone in-lane below). */
    __m256i l = _mm256_packus_epi16(_mm256_and_si256(a, low_byte), _mm256_and_si256(b, low_byte));
    __m256i h = _mm256_packus_epi16(_mm256_srli_epi16(a, 8), _mm256_srli_epi16(b, 8));
    __m256i n0 = _mm256_and_si256(l, nibble), n1 = _mm256_and_si256(_mm256_srli_epi16(l, 4), nibble);
    __m256i n2 = _mm256_and_si256(h, nibble), n3 = _mm256_and_si256(_mm256_srli_epi16(h, 4), nibble);
    __m256i rl = _mm256_xor_si256(_mm256_xor_si256(_mm256_shuffle_epi8(lo[0], n0), _mm256_shuffle_epi8(lo[1], n1)), _mm256_xor_si256(_mm256_shuffle_epi8(lo[2], n2), _mm256_shuffle_epi8(lo[3], n3)));
    __m256i rh = _mm256_xor_si256(_mm256_xor_si256(_mm256_shuffle_epi8(hi[0], n0), _mm256_shuffle_epi8(hi[1], n1)), _mm256_xor_si256(_mm256_shuffle_epi8(hi[2], n2), _mm256_shuffle_epi8(hi[3], n3)));
    __m256i *o = (__m256i *)(out + w);
    _mm256_storeu_si256(o, _mm256_xor_si256(_mm256_loadu_si256(o), _mm256_unpacklo_epi8(rl, rh)));
    _mm256_storeu_si256(o + 1, _mm256_xor_si256(_mm256_loadu_si256(o + 1), _mm256_unpackhi_epi8(rl, rh)));
  }
  return w;
}

__attribute__((target("ssse3"))) static size_t gf_muladd_ssse3(uint16_t *out, const uint16_t *in, size_t words, const nibble_tables *t) {
  __m128i lo[4], hi[4];
  for (int i = 0; i < 4; i++) {
    lo[i] = _mm_loadu_si128((const __m128i *)t->lo[i]);
    hi[i] = _mm_loadu_si128((const __m128i *)t->hi[i]);
  }
  const __m128i nibble = _mm_set1_epi8(0x0f), low_byte = _mm_set1_epi16(0xff);
  size_t w = 0;
  for (; w + 16 <= words; w += 16) {
    __m128i a = _mm_loadu_si128((const __m128i *)(in + w)), b = _mm_loadu_si128((const __m128i *)(in + w + 8));
    __m128i l = _mm_packus_epi16(_mm_and_si128(a, low_byte), _mm_and_si128(b, low_byte));
    __m128i h = _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8));
    __m128i n0 = _mm_and_si128(l, nibble), n1 = _mm_and_si128(_mm_srli_epi16(l, 4), nibble);
    __m128i n2 = _mm_and_si128(h, nibble), n3 = _mm_and_si128(_mm_srli_epi16(h, 4), nibble);
    __m128i rl = _mm_xor_si128(_mm_xor_si128(_mm_shuffle_epi8(lo[0], n0), _mm_shuffle_epi8(lo[1], n1)), _mm_xor_si128(_mm_shuffle_epi8(lo[2], n2), _mm_shuffle_epi8(lo[3], n3)));
    __m128i rh = _mm_xor_si128(_mm_xor_si128(_mm_shuffle_epi8(hi[0], n0), _mm_shuffle_epi8(hi[1], n1)), _mm_xor_si128(_mm_shuffle_epi8(hi[2], n2), _mm_shuffle_epi8(hi[3], n3)));
    __m128i *o = (__m128i *)(out + w);
    _mm_storeu_si128(o, _mm_xor_si128(_mm_loadu_si128(o), _mm_unpacklo_epi8(rl, rh)));
    _mm_storeu_si128(o + 1, _mm_xor_si128(_mm_loadu_si128(o + 1), _mm_unpackhi_epi8(rl, rh)));
  }
  return w;
}
#endif

/* Adds k·in into out, `words` words: shuffles for what they can take, the 256-entry tables for the rest. */
static void gf_muladd(uint16_t *out, const uint16_t *in, size_t words, uint16_t k) {
  size_t w = 0;
#if defined(__x86_64__)
  if (gf_simd > 0) {
    nibble_tables t;
    nibble_tables_for(k, &t);
    w = gf_simd == 2 ? gf_muladd_avx2(out, in, words, &t) : gf_muladd_ssse3(out, in, words, &t);
  }
#endif
  if (w == words) return;
  uint16_t low[256], high[256];
  for (int b = 0; b < 256; b++) {
    low[b] = gf_mul(k, (uint16_t)b);
    high[b] = gf_mul(k, (uint16_t)(b << 8));
  }
  /* Words are little-endian in PAR2, as on the hosts this builds for (checked above). */
  for (; w < words; w++) {
    uint16_t v = in[w];
    out[w] ^= low[v & 0xff] ^ high[v >> 8];
  }
}

static void gf_execute(napi_env env, void *data) {
  (void)env;
  gf_job *job = data;
  size_t words = job->slice / 2;
  for (size_t r = 0; r < job->rows; r++) {
    uint16_t *out = (uint16_t *)(job->out + r * job->slice);
    for (size_t c = 0; c < job->cols; c++) {
      uint16_t k = job->coefficients[r * job->cols + c];
      if (k == 0) continue;
      const uint16_t *in = (const uint16_t *)(job->in + c * job->slice);
      if (k == 1) {
        for (size_t w = 0; w < words; w++) out[w] ^= in[w];
        continue;
      }
      gf_muladd(out, in, words, k);
    }
  }
}

static void gf_complete(napi_env env, napi_status status, void *data) {
  gf_job *job = data;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (status == napi_ok) napi_resolve_deferred(env, job->deferred, undefined);
  else {
    napi_value msg, error;
    napi_create_string_utf8(env, "gfMultiplyAdd: cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_reject_deferred(env, job->deferred, error);
  }
  for (int i = 0; i < 3; i++) napi_delete_reference(env, job->refs[i]);
  napi_delete_async_work(env, job->work);
  free(job);
}

/* gfMultiplyAdd(out, inputs, coefficients, sliceSize): out[r] ^= Σ_c coefficients[r·cols + c] · inputs[c]. */
static napi_value js_gf_multiply_add(napi_env env, napi_callback_info info) {
  napi_value argv[4], promise, name;
  if (!get_args(env, info, 4, argv)) return NULL;
  bool out_ok = false, in_ok = false, coef_ok = false;
  napi_is_buffer(env, argv[0], &out_ok);
  napi_is_buffer(env, argv[1], &in_ok);
  napi_is_typedarray(env, argv[2], &coef_ok);
  uint32_t slice = 0;
  napi_get_value_uint32(env, argv[3], &slice);
  void *out, *in, *coef;
  size_t out_len = 0, in_len = 0, coef_count = 0;
  napi_typedarray_type type = napi_int8_array;
  if (out_ok) napi_get_buffer_info(env, argv[0], &out, &out_len);
  if (in_ok) napi_get_buffer_info(env, argv[1], &in, &in_len);
  if (coef_ok) napi_get_typedarray_info(env, argv[2], &type, &coef_count, &coef, NULL, NULL);
  if (!out_ok || !in_ok || type != napi_uint16_array || slice == 0 || slice % 4 != 0 || out_len % slice != 0 || in_len % slice != 0 ||
      coef_count != (out_len / slice) * (in_len / slice) || ((uintptr_t)out | (uintptr_t)in | (uintptr_t)coef) % 2 != 0) {
    napi_throw_type_error(env, NULL, "gfMultiplyAdd(out: Buffer, inputs: Buffer, coefficients: Uint16Array, sliceSize): sizes do not agree");
    return NULL;
  }
  gf_job *job = calloc(1, sizeof *job);
  job->out = out;
  job->in = in;
  job->coefficients = coef;
  job->slice = slice;
  job->rows = out_len / slice;
  job->cols = in_len / slice;
  /* The three arrays stay alive (Buffers do not move) until the worker is done with them. */
  for (int i = 0; i < 3; i++) napi_create_reference(env, argv[i], 1, &job->refs[i]);
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "rootfs:gfMultiplyAdd", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, gf_execute, gf_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"flock", NULL, js_flock, NULL, NULL, NULL, napi_default, NULL},
    {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
    {"seekData", NULL, js_seek_data, NULL, NULL, NULL, napi_default, NULL},
    {"seekHole", NULL, js_seek_hole, NULL, NULL, NULL, napi_default, NULL},
    {"readDirectory", NULL, js_read_directory, NULL, NULL, NULL, napi_default, NULL},
    {"gfMultiplyAdd", NULL, js_gf_multiply_add, NULL, NULL, NULL, napi_default, NULL},
  };
  gf_init();
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value encoders;
  napi_create_object(env, &encoders);
#ifdef ROOTFS_HAVE_LIBDEFLATE
  napi_property_descriptor gzip = {"gzipMember", NULL, js_gzip_member, NULL, NULL, NULL, napi_default, NULL};
  napi_define_properties(env, exports, 1, &gzip);
  napi_value version;
  napi_create_string_utf8(env, LIBDEFLATE_VERSION_STRING, NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, encoders, "libdeflate", version);
#endif
  napi_set_named_property(env, exports, "libraries", encoders);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
