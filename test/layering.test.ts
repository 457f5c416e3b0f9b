// Proves the layering by scanning imports: only native/ loads native addons (tests may inspect them); metadata/ depends on
// neither the mount nor the peer; the mount never reaches into peer/; in peer/, only the daemon (the
// composition root) wires the mount in at run time; and the pure cores touch no clock, randomness,
// disk or network. Type-only imports carry no code and are allowed across layers.
import test from 'brittle'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

async function sources (directory: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, directory), { withFileTypes: true, recursive: true })
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)))
}

/** Module specifiers imported for their code (not `import type`). */
async function runtimeImports (file: string): Promise<string[]> {
  const text = await readFile(path.join(ROOT, file), 'utf8')
  const specifiers: string[] = []
  for (const match of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)) {
    if (match[2] === undefined) specifiers.push(match[3]!)
  }
  for (const match of text.matchAll(/^\s*import\s+'([^']+)'/gm)) specifiers.push(match[1]!)
  for (const match of text.matchAll(/require\)?\(['"]([^'"]+)['"]\)/g)) specifiers.push(match[1]!)
  return specifiers
}

function layerOf (file: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier
  return path.relative(ROOT, path.resolve(ROOT, path.dirname(file), specifier)).split(path.sep)[0]!
}

test('native addons are loaded only in native/', async (t) => {
  const offenders: string[] = []
  for (const layer of ['metadata', 'mount', 'peer']) {
    for (const file of await sources(layer)) {
      for (const specifier of await runtimeImports(file)) {
        if (/^(fuse-native|sodium-native|udx-native|node-gyp-build)$/.test(specifier)) offenders.push(`${file} → ${specifier}`)
      }
    }
  }
  t.alike(offenders, [])
})

test('layers import downward only', async (t) => {
  const allowed: Record<string, string[]> = {
    metadata: ['metadata', 'native'],
    mount: ['mount', 'metadata', 'native'],
    peer: ['peer', 'metadata', 'native']
  }
  const offenders: string[] = []
  for (const [layer, targets] of Object.entries(allowed)) {
    for (const file of await sources(layer)) {
      for (const specifier of await runtimeImports(file)) {
        if (!specifier.startsWith('.')) continue
        const target = layerOf(file, specifier)
        const composition = file === path.join('peer', 'daemon.ts') && target === 'mount'
        if (!targets.includes(target) && !composition) offenders.push(`${file} → ${specifier}`)
      }
    }
  }
  t.alike(offenders, [])
})

test('the pure cores use no clock, randomness, timers, disk or network', async (t) => {
  const forbidden = /\b(Date\.now|Math\.random|setTimeout|setInterval|setImmediate|performance\.now|process\.hrtime)\b|from 'node:(fs|net|dgram|child_process|worker_threads)/
  const offenders: string[] = []
  for (const file of [...await sources('metadata/fs'), ...await sources('metadata/raft')]) {
    const text = await readFile(path.join(ROOT, file), 'utf8')
    const code = text.split('\n').filter((line) => !line.trim().startsWith('//') && !line.trim().startsWith('*')).join('\n')
    if (forbidden.test(code)) offenders.push(file)
  }
  t.alike(offenders, [])
})
