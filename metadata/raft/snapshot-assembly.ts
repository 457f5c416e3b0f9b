// The follower's side of a chunked InstallSnapshot (thesis §5.1: offset and done fields): chunks must
// arrive in order; a gap is answered with the offset we expect, so the leader rewinds. The transfer is
// ordinary message traffic, so heartbeats and elections keep running while it is in progress.
import { assert } from './assert.js'
import type { Snapshot, SnapshotChunk, SnapshotMetadata } from './messages.js'

export const SNAPSHOT_BYTES_MAX = 1024 * 1024 * 1024

export type ChunkOutcome =
  | { kind: 'ack', offset: number } // received; the next expected offset
  | { kind: 'gap', offset: number } // out of order; the offset we expect
  | { kind: 'complete', snapshot: Snapshot }

export class SnapshotAssembly {
  private metadata: SnapshotMetadata | null = null
  private bytesTotal = 0
  private parts: Uint8Array[] = []
  private received = 0

  private matches (m: SnapshotMetadata, bytesTotal: number): boolean {
    return this.metadata !== null && this.metadata.index === m.index && this.metadata.term === m.term && this.bytesTotal === bytesTotal
  }

  add (chunk: SnapshotChunk): ChunkOutcome {
    if (chunk.bytesTotal > SNAPSHOT_BYTES_MAX || chunk.offset + chunk.data.byteLength > chunk.bytesTotal) return { kind: 'gap', offset: 0 }
    if (!this.matches(chunk.metadata, chunk.bytesTotal)) {
      if (chunk.offset !== 0) return { kind: 'gap', offset: 0 }
      this.start(chunk.metadata, chunk.bytesTotal)
    }
    if (chunk.offset !== this.received) {
      // A duplicate of something we hold is acknowledged with where we are; a gap asks for a rewind.
      return chunk.offset < this.received ? { kind: 'ack', offset: this.received } : { kind: 'gap', offset: this.received }
    }
    if (chunk.data.byteLength > 0) this.parts.push(chunk.data)
    this.received += chunk.data.byteLength
    assert(this.received <= this.bytesTotal, 'snapshot assembly: beyond total')
    if (this.received < this.bytesTotal) return { kind: 'ack', offset: this.received }
    return { kind: 'complete', snapshot: this.finish() }
  }

  private start (metadata: SnapshotMetadata, bytesTotal: number): void {
    this.metadata = metadata
    this.bytesTotal = bytesTotal
    this.parts = []
    this.received = 0
  }

  private finish (): Snapshot {
    const data = new Uint8Array(this.bytesTotal)
    let at = 0
    for (const part of this.parts) {
      data.set(part, at)
      at += part.byteLength
    }
    assert(at === this.bytesTotal, 'snapshot assembly: size mismatch')
    const metadata = this.metadata as SnapshotMetadata
    this.reset()
    return { metadata, data }
  }

  reset (): void {
    this.metadata = null
    this.bytesTotal = 0
    this.parts = []
    this.received = 0
  }
}
