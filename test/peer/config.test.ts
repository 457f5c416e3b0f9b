// Settings and their precedence: a config file parses into typed values; flags beat the environment,
// the environment beats the file, the file beats defaults; every malformed input — a bad line, an
// unknown or repeated key, a bad value, a file too big, data moved from inside the data directory, a
// public metrics address without metrics-public — is a ConfigError naming the file and line (or the
// variable or flag) and the key. A seeded fuzz run over random and mutated files shows that nothing
// else is ever thrown. Last, loading: DATA/swarmfs.conf is found through --data or SWARMFS_DATA, and
// --config FILE replaces it (and must exist).
import test from 'brittle'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { CACHE_MB_DEFAULT, ConfigError, DISK_CACHE_MB_DEFAULT, environmentLayer, flagLayer, mergeSettings, parseConfigFile } from '../../peer/config.js'
import { loadSettings } from '../../peer/config-file.js'
import { fuzzCases } from '../helpers/fuzz-scale.js'
import { seededRandom } from '../helpers/seeded-random.js'

const FILE = '/etc/swarmfs/peer.conf'
const VALID = `# a peer
mount = /mnt/swarmfs
bootstrap = 10.0.0.1:49737,[fd00::1]:49737
host = 10.0.0.11
allow_other = yes
cache-mb = 256
metrics = 127.0.0.1:9464
log-level = debug
log-format = json
`

function configError (t: any, run: () => unknown, where: string, key: string | null, says: string): void {
  try {
    run()
    t.fail(`no error; expected one at ${where}`)
  } catch (error) {
    if (!(error instanceof ConfigError)) { t.fail(`not a ConfigError: ${String(error)}`); return }
    t.is(error.where, where, `names ${where}`)
    t.is(error.key, key, `names key ${String(key)}`)
    t.ok(error.message.includes(says), `says why: ${error.message}`)
  }
}

test('a config file parses into typed settings', (t) => {
  const settings = mergeSettings([parseConfigFile(VALID, FILE, { inDataDirectory: false })])
  t.is(settings.mount, '/mnt/swarmfs')
  t.alike(settings.bootstrap, [{ host: '10.0.0.1', port: 49737 }, { host: 'fd00::1', port: 49737 }])
  t.is(settings.host, '10.0.0.11')
  t.is(settings.allowOther, true)
  t.is(settings.cacheMb, 256)
  t.alike(settings.metrics, { host: '127.0.0.1', port: 9464 })
  t.is(settings.logLevel, 'debug')
  t.is(settings.logFormat, 'json')
  t.is(settings.sources.mount, `${FILE} line 2`, 'each setting knows where it came from')
})

test('defaults when nothing is set', (t) => {
  const settings = mergeSettings([{}, {}, {}])
  t.alike(settings, { metricsPublic: false, allowOther: false, cacheMb: CACHE_MB_DEFAULT, diskCacheMb: DISK_CACHE_MB_DEFAULT, logLevel: 'info', logFormat: 'text', sources: {} })
})

test('disk-cache-mb: 0 turns the disk cache off; flag > environment > file', (t) => {
  const file = parseConfigFile('disk-cache-mb = 512\n', FILE, { inDataDirectory: true })
  t.is(mergeSettings([file]).diskCacheMb, 512, 'from the file')
  t.is(mergeSettings([environmentLayer({ SWARMFS_DISK_CACHE_MB: '0' }), file]).diskCacheMb, 0, 'the environment beats the file; 0 is allowed')
  t.is(mergeSettings([flagLayer({ 'disk-cache-mb': '64' }), environmentLayer({ SWARMFS_DISK_CACHE_MB: '0' }), file]).diskCacheMb, 64, 'the flag beats both')
  configError(t, () => parseConfigFile('disk-cache-mb = -5', FILE, { inDataDirectory: false }), `${FILE} line 1`, 'disk-cache-mb', 'between 0 (off) and')
  configError(t, () => environmentLayer({ SWARMFS_DISK_CACHE_MB: '1.5' }), 'SWARMFS_DISK_CACHE_MB', 'disk-cache-mb', 'is not a whole number')
})

test('flags > environment > config file > defaults', (t) => {
  const file = parseConfigFile('mount = /from/file\ncache-mb = 10\nhost = file.example\nlog-level = warn\n', FILE, { inDataDirectory: true })
  const environment = environmentLayer({ SWARMFS_MOUNT: '/from/env', SWARMFS_CACHE_MB: '20', SWARMFS_HOST: '', OTHER: 'x' })
  const flags = flagLayer({ mount: '/from/flag', 'allow-other': true, 'metrics-public': false, json: true })
  const settings = mergeSettings([flags, environment, file])
  t.is(settings.mount, '/from/flag', 'the flag wins')
  t.is(settings.cacheMb, 20, 'the environment beats the file')
  t.is(settings.host, 'file.example', 'an empty variable counts as unset')
  t.is(settings.logLevel, 'warn', 'the file beats the default')
  t.is(settings.allowOther, true)
  t.is(settings.metricsPublic, false, 'a switch not given is not a setting')
  t.is(settings.logFormat, 'text', 'the default')
  t.alike(settings.sources, { mount: '--mount', 'allow-other': '--allow-other', 'cache-mb': 'SWARMFS_CACHE_MB', host: `${FILE} line 3`, 'log-level': `${FILE} line 4` })
})

test('comments, blank lines, CRLF, a BOM, quotes and spaces around = are fine', (t) => {
  const layer = parseConfigFile('\uFEFF# c\r\n\r\n  mount=  "/mnt/with space "  \r\n   # indented comment\r\nlog_level=error\r\n', FILE, { inDataDirectory: false })
  const settings = mergeSettings([layer])
  t.is(settings.mount, '/mnt/with space ')
  t.is(settings.logLevel, 'error')
})

test('malformed files name the file, the line and the key', (t) => {
  const parse = (text: string, inDataDirectory = false) => () => parseConfigFile(text, FILE, { inDataDirectory })
  configError(t, parse('mount /mnt'), `${FILE} line 1`, null, "expected 'key = value'")
  configError(t, parse('\n\nfrobnicate = 1'), `${FILE} line 3`, 'frobnicate', 'unknown setting')
  configError(t, parse('mount = /a\nmount = /b'), `${FILE} line 2`, 'mount', 'already set on line 1')
  configError(t, parse('cache-mb = lots'), `${FILE} line 1`, 'cache-mb', 'is not a whole number of MiB')
  configError(t, parse('cache-mb = 0'), `${FILE} line 1`, 'cache-mb', 'between 1 and')
  configError(t, parse('cache-mb = 256 # MiB'), `${FILE} line 1`, 'cache-mb', '"256 # MiB"')
  configError(t, parse('allow-other = maybe'), `${FILE} line 1`, 'allow-other', 'is not a boolean')
  configError(t, parse('bootstrap = 10.0.0.1'), `${FILE} line 1`, 'bootstrap', 'is not HOST:PORT')
  configError(t, parse('bootstrap = 10.0.0.1:0'), `${FILE} line 1`, 'bootstrap', 'is not a port number')
  configError(t, parse('bootstrap = 10.0.0.1:70000'), `${FILE} line 1`, 'bootstrap', 'is not a port number')
  configError(t, parse('metrics = 9464'), `${FILE} line 1`, 'metrics', 'is not HOST:PORT')
  configError(t, parse('log-level = loud'), `${FILE} line 1`, 'log-level', 'debug, info, warn, error')
  configError(t, parse('log-format = xml'), `${FILE} line 1`, 'log-format', 'text, json')
  configError(t, parse('host = two words'), `${FILE} line 1`, 'host', 'one word')
  configError(t, parse('mount ='), `${FILE} line 1`, 'mount', 'has no value')
  configError(t, parse('mount = /a\u0001b'), `${FILE} line 1`, null, 'control character')
  configError(t, parse('data = /elsewhere', true), `${FILE} line 1`, 'data', 'cannot move the data directory')
  configError(t, parse('#'.repeat(70 * 1024)), FILE, null, 'larger than 64 KiB')
  t.is(mergeSettings([parseConfigFile('data = /var/lib/swarmfs', FILE, { inDataDirectory: false })]).data, '/var/lib/swarmfs', 'a --config file may name the data directory')
})

test('bad environment variables and flags are named too', (t) => {
  configError(t, () => environmentLayer({ SWARMFS_CACHE_MB: '-1' }), 'SWARMFS_CACHE_MB', 'cache-mb', 'is not a whole number')
  configError(t, () => environmentLayer({ SWARMFS_LOG_LEVEL: 'verbose' }), 'SWARMFS_LOG_LEVEL', 'log-level', 'is not one of')
  configError(t, () => flagLayer({ bootstrap: 'nowhere' }), '--bootstrap', 'bootstrap', 'is not HOST:PORT')
  configError(t, () => mergeSettings([flagLayer({ metrics: '0.0.0.0:9464' })]), '--metrics', 'metrics', 'add --metrics-public')
  configError(t, () => mergeSettings([environmentLayer({ SWARMFS_METRICS: '10.1.2.3:9464' })]), 'SWARMFS_METRICS', 'metrics', 'is not a loopback address')
  t.alike(mergeSettings([flagLayer({ metrics: '0.0.0.0:9464', 'metrics-public': true })]).metrics, { host: '0.0.0.0', port: 9464 }, 'allowed with metrics-public')
  t.absent(mergeSettings([flagLayer({ metrics: 'off' })]).metrics, "'off' turns metrics off")
  t.is(mergeSettings([flagLayer({ bootstrap: 'public' })]).bootstrap, 'public')
})

/** A valid file with a few random edits: characters inserted, deleted or replaced, lines swapped. */
function mutate (random: () => number, text: string): string {
  const pick = (n: number): number => Math.floor(random() * n)
  const alphabet = '=#" \n\r\t:,[]-_.\u0000\u0001\uFEFFabcdefxyz0123456789é€'
  let result = text
  for (let edits = 1 + pick(6); edits > 0; edits--) {
    const at = pick(result.length + 1)
    switch (pick(4)) {
      case 0: result = result.slice(0, at) + alphabet[pick(alphabet.length)]! + result.slice(at); break
      case 1: result = result.slice(0, at) + result.slice(at + 1 + pick(8)); break
      case 2: result = result.slice(0, at) + alphabet[pick(alphabet.length)]! + result.slice(at + 1); break
      default: {
        const lines = result.split('\n')
        const [a, b] = [pick(lines.length), pick(lines.length)]
        ;[lines[a], lines[b]] = [lines[b]!, lines[a]!]
        result = lines.join('\n')
      }
    }
  }
  return result
}

function randomText (random: () => number): string {
  const length = Math.floor(random() * 200)
  return Array.from({ length }, () => String.fromCharCode(Math.floor(random() * (random() < 0.8 ? 128 : 0x3000)))).join('')
}

test('fuzz: random and mutated files parse or fail with a ConfigError, nothing else', (t) => {
  const seed = Number(process.env.SWARMFS_FUZZ_SEED ?? 20261)
  const random = seededRandom(seed)
  let parsed = 0
  let refused = 0
  const others: string[] = []
  const cases = fuzzCases(20_000)
  for (let i = 0; i < cases; i++) {
    const text = i % 2 === 0 ? mutate(random, VALID) : randomText(random)
    for (const inDataDirectory of [false, true]) {
      try {
        mergeSettings([parseConfigFile(text, FILE, { inDataDirectory })])
        parsed++
      } catch (error) {
        if (error instanceof ConfigError && error.message.startsWith(FILE)) refused++
        else if (others.length < 5) others.push(`${String(error)} for ${JSON.stringify(text)}`)
      }
    }
  }
  t.alike(others, [], `only ConfigErrors (seed ${seed})`)
  t.ok(parsed > 1000 && refused > 1000, `both outcomes exercised: ${parsed} parsed, ${refused} refused`)
})

test('loading finds DATA/swarmfs.conf, or the --config file, which must exist', async (t) => {
  const base = await t.tmp()
  const data = path.join(base, 'data')
  await mkdir(data)
  await writeFile(path.join(data, 'swarmfs.conf'), 'mount = /from/data-dir\ncache-mb = 7\n')
  const explicit = path.join(base, 'other.conf')
  await writeFile(explicit, `data = ${data}\nmount = /from/explicit\n`)

  const viaFlag = await loadSettings({ data }, {})
  t.is(viaFlag.configFile, path.join(data, 'swarmfs.conf'))
  t.is(viaFlag.settings.mount, '/from/data-dir')
  const viaEnvironment = await loadSettings({}, { SWARMFS_DATA: data, SWARMFS_CACHE_MB: '9' })
  t.is(viaEnvironment.settings.mount, '/from/data-dir', 'found through SWARMFS_DATA')
  t.is(viaEnvironment.settings.cacheMb, 9, 'and the environment still beats it')
  const viaConfig = await loadSettings({ config: explicit }, {})
  t.is(viaConfig.settings.data, data, 'a --config file names the data directory')
  t.is(viaConfig.settings.mount, '/from/explicit', 'and replaces DATA/swarmfs.conf')
  t.is(viaConfig.settings.cacheMb, CACHE_MB_DEFAULT)
  const viaConfigVariable = await loadSettings({}, { SWARMFS_CONFIG: explicit })
  t.is(viaConfigVariable.configFile, explicit)
  const none = await loadSettings({ data: path.join(base, 'no-such-dir') }, {})
  t.is(none.configFile, null, 'no file in the data directory is fine')
  await t.exception(loadSettings({ config: path.join(base, 'missing.conf') }, {}), /missing\.conf: does not exist/, 'a named file must exist')
  await writeFile(path.join(data, 'swarmfs.conf'), 'mount = /a\ncache-mb = huge\n')
  await t.exception(loadSettings({ data }, {}), /swarmfs\.conf line 2: cache-mb: /, 'a bad file stops loading, naming file, line and key')
})
