// Paths as the workload names them: relative to the mount root, '/'-separated, '' for the root itself.

export function parentOf (path: string): string {
  const slash = path.lastIndexOf('/')
  return slash < 0 ? '' : path.slice(0, slash)
}

export function joinPath (directory: string, name: string): string {
  return directory === '' ? name : `${directory}/${name}`
}

/** Whether `path` lies strictly below `ancestor`. */
export function isWithin (path: string, ancestor: string): boolean {
  return ancestor === '' ? path !== '' : path.startsWith(`${ancestor}/`)
}

export function depthOf (path: string): number {
  return path === '' ? 0 : path.split('/').length
}
