// The layout of a peer's data directory, in one place.
import path from 'node:path'

export interface DataDir {
  root: string
  secretFile: string
  peerFile: string
  peerKeyFile: string
  metadataDirectory: string
  chunkDirectory: string
  controlSocket: string
}

export function dataDir (root: string): DataDir {
  const absolute = path.resolve(root)
  return {
    root: absolute,
    secretFile: path.join(absolute, 'cluster.key'),
    peerFile: path.join(absolute, 'peer.json'),
    peerKeyFile: path.join(absolute, 'peer.key'),
    metadataDirectory: path.join(absolute, 'metadata'),
    chunkDirectory: path.join(absolute, 'chunks'),
    controlSocket: path.join(absolute, 'control.sock')
  }
}
