#!/usr/bin/env python3
# A random-operation data-integrity exerciser in the manner of fsx: one file, a model of its bytes in
# memory, and a seeded stream of operations against both: pwrite, pread, truncate (grow and shrink),
# fallocate (allocate, keep size, punch a hole, zero a range), reads and writes through a shared mmap,
# fsync, and close/reopen. Every read is compared with the model, and so is the size after every
# operation and the whole file every so often and at the end (through a fresh descriptor). Offsets
# gather around the places a chunked, block-sealed file is most likely to get wrong: chunk and block
# boundaries and the end of the file. A fallocate mode the file system lacks is left out, as fsx does.
#
#   exerciser.py FILE SEED OPS [MAX_BYTES]
#
# Prints one summary line and exits 0, or prints the seed, the failing operation, the first differing
# byte and the last operations, and exits 1.
import ctypes
import ctypes.util
import errno
import mmap
import os
import random
import sys

CHUNK = 4 * 1024 * 1024  # swarmfs's chunk size
BLOCK = 64 * 1024  # its sealed block size
WRITE_MAX = 256 * 1024
KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE = 0x01, 0x02, 0x10
FALLOCATE_MODES = [0, KEEP_SIZE, PUNCH_HOLE | KEEP_SIZE, ZERO_RANGE, ZERO_RANGE | KEEP_SIZE]
libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    if libc.fallocate(fd, mode, offset, length) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def main() -> int:
    path, seed, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    max_bytes = int(sys.argv[4]) if len(sys.argv) > 4 else 2 * CHUNK + 3 * BLOCK
    rng = random.Random(seed)
    model = bytearray()
    history: list[str] = []
    counts: dict[str, int] = {}
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)

    def fail(what: str) -> int:
        print(f'exerciser: seed {seed}: {what}')
        print('last operations:\n  ' + '\n  '.join(history[-12:]))
        return 1

    def offset() -> int:
        # Around a chunk or block boundary, around the end of the file, or anywhere.
        kind = rng.random()
        if kind < 0.3:
            edge = rng.choice([CHUNK, 2 * CHUNK, BLOCK * rng.randint(1, max_bytes // BLOCK)])
            return max(0, min(max_bytes - 1, edge + rng.randint(-300, 300)))
        if kind < 0.5:
            return max(0, min(max_bytes - 1, len(model) + rng.randint(-5000, 5000)))
        return rng.randrange(max_bytes)

    def length(at: int) -> int:
        limit = min(WRITE_MAX, max_bytes - at)
        return rng.randint(1, max(1, limit)) if rng.random() < 0.2 else rng.randint(1, max(1, min(limit, 9000)))

    def compare(data: bytes, at: int, asked: int, how: str) -> str | None:
        # What `asked` bytes at `at` must return: the model's, up to its end (a short read is a failure).
        expected = bytes(model[at:at + asked])
        if data == expected:
            return None
        first = next(i for i in range(min(len(data), len(expected)) + 1) if i >= min(len(data), len(expected)) or data[i] != expected[i])
        return f'{how} at {at}: {len(data)} bytes read, {len(expected)} expected; first difference at file offset {at + first}'

    # EXERCISER_SKIP=mapwrite,mapread (say) leaves those operations out, to narrow a failure down.
    skip = set(filter(None, os.environ.get('EXERCISER_SKIP', '').split(',')))
    weights = [0 if op in skip else w for op, w in [('write', 30), ('read', 25), ('truncate', 8), ('fallocate', 6), ('mapwrite', 10), ('mapread', 10), ('fsync', 4), ('reopen', 3)]]
    trace = os.environ.get('EXERCISER_TRACE') == '1'  # each operation on stderr before it runs

    def note(text: str) -> None:
        history.append(text)
        if trace:
            print(text, file=sys.stderr, flush=True)

    for step in range(ops):
        op = rng.choices(['write', 'read', 'truncate', 'fallocate', 'mapwrite', 'mapread', 'fsync', 'reopen'], weights)[0]
        counts[op] = counts.get(op, 0) + 1
        if op == 'write':
            at = offset()
            data = rng.randbytes(length(at))
            note(f'{step}: pwrite {at} +{len(data)}')
            if os.pwrite(fd, data, at) != len(data):
                return fail(f'short write at step {step}')
            if at > len(model):
                model.extend(bytes(at - len(model)))
            model[at:at + len(data)] = data
        elif op == 'read':
            at = offset()
            size = length(at)
            note(f'{step}: pread {at} +{size}')
            problem = compare(os.pread(fd, size, at), at, size, 'pread')
            if problem is not None:
                return fail(f'step {step}: {problem}')
        elif op == 'truncate':
            size = rng.choice([0, rng.randrange(max_bytes), len(model) // 2, len(model) + rng.randint(1, 100000)]) if model else rng.randrange(max_bytes)
            size = min(size, max_bytes)
            note(f'{step}: ftruncate {size}')
            os.ftruncate(fd, size)
            if size < len(model):
                del model[size:]
            else:
                model.extend(bytes(size - len(model)))
        elif op == 'fallocate':
            at, mode = offset(), rng.choice(FALLOCATE_MODES)
            size = length(at)
            note(f'{step}: fallocate mode {mode:#x} {at} +{size}')
            try:
                fallocate(fd, mode, at, size)
            except OSError as error:
                if error.errno != errno.EOPNOTSUPP:
                    raise
                counts['fallocate unsupported'] = counts.get('fallocate unsupported', 0) + 1
                continue  # as fsx does: a mode the file system (or kernel) lacks is left out
            end = at + size
            if mode & (PUNCH_HOLE | ZERO_RANGE):
                model[at:min(end, len(model))] = bytes(max(0, min(end, len(model)) - at))
            if not mode & KEEP_SIZE and end > len(model):
                model.extend(bytes(end - len(model)))
        elif op in ('mapwrite', 'mapread'):
            if not model:
                continue
            at = rng.randrange(len(model))
            size = min(length(at), len(model) - at)
            start = at - at % mmap.ALLOCATIONGRANULARITY
            note(f'{step}: {op} {at} +{size}')
            with mmap.mmap(fd, at + size - start, offset=start) as mapped:
                if op == 'mapwrite':
                    data = rng.randbytes(size)
                    mapped[at - start:at - start + size] = data
                    mapped.flush()
                    model[at:at + size] = data
                else:
                    problem = compare(mapped[at - start:at - start + size], at, size, 'mmap read')
                    if problem is not None:
                        return fail(f'step {step}: {problem}')
        elif op == 'fsync':
            note(f'{step}: fsync')
            os.fsync(fd)
        else:
            note(f'{step}: close, reopen')
            os.close(fd)
            fd = os.open(path, os.O_RDWR)
        size = os.fstat(fd).st_size
        if size != len(model):
            return fail(f'step {step} ({history[-1]}): size {size}, expected {len(model)}')
        if step % 200 == 199:
            problem = compare(os.pread(fd, max_bytes, 0), 0, max_bytes, 'whole-file read')
            if problem is not None:
                return fail(f'step {step}: {problem}')
    os.close(fd)
    with open(path, 'rb') as again:
        problem = compare(again.read(), 0, max_bytes, 'final read through a new descriptor')
    if problem is not None:
        return fail(problem)
    print(f'exerciser: seed {seed}: {ops} operations, final size {len(model)}, ' + ', '.join(f'{op} {n}' for op, n in sorted(counts.items())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
