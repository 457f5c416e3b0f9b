// libuv runs every file operation — and every fsync — on its thread pool, 4 threads by default. The
// daemon keeps many fsyncs in flight (chunk files, their directories, the metadata log), so it needs
// more; the size must be set before the pool is first used, hence this module is imported first.
const THREADS = 16
process.env.UV_THREADPOOL_SIZE ??= String(THREADS)
export {}
