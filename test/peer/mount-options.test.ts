// What mount(8) hands the mount helper becomes `swarmfs up` flags: swarmfs options (with '_' or '-')
// map to flags, mount's own options are ignored, an unknown option is refused unless -s, ro is refused,
// and -f/-v/-n are understood.
import test from 'brittle'
import { MountUsageError, parseMountArguments } from '../../peer/mount-options.js'

test('options become swarmfs up flags; mount\'s own options are ignored', (t) => {
  const request = parseMountArguments(['/var/lib/swarmfs', '/mnt/swarmfs', '-o', 'rw,defaults,_netdev,nofail,x-systemd.automount,allow_other,bootstrap=10.0.0.1:49737,cache_mb=256,log-level=debug,log=/var/log/swarmfs.log,config=/etc/swarmfs/a.conf'])
  t.is(request.data, '/var/lib/swarmfs')
  t.is(request.mountpoint, '/mnt/swarmfs')
  t.alike(request.flags, ['--allow-other', '--bootstrap', '10.0.0.1:49737', '--cache-mb', '256', '--log-level', 'debug', '--config', '/etc/swarmfs/a.conf'])
  t.is(request.logFile, '/var/log/swarmfs.log')
  t.alike(request.ignored, ['rw', 'defaults', '_netdev', 'nofail', 'x-systemd.automount'])
  t.is(request.fake, false)
})

test('flags, -oOPTIONS glued, several -o', (t) => {
  const request = parseMountArguments(['-nv', 'DATA', 'MNT', '-ohost=10.0.0.2', '-o', 'metrics=127.0.0.1:9464,metrics_public,disk_cache_mb=0'])
  t.alike(request.flags, ['--host', '10.0.0.2', '--metrics', '127.0.0.1:9464', '--metrics-public', '--disk-cache-mb', '0'])
  t.is(request.verbose, true)
  t.is(parseMountArguments(['-f', 'DATA', 'MNT']).fake, true)
  t.alike(parseMountArguments(['DATA', 'MNT']).flags, [])
})

test('refusals: unknown options (unless sloppy), ro, missing values, wrong arity', (t) => {
  t.exception(() => parseMountArguments(['DATA', 'MNT', '-o', 'cache_mbb=5']), MountUsageError)
  t.exception(() => parseMountArguments(['DATA', 'MNT', '-o', 'cache_mbb=5']), /unknown option 'cache_mbb=5'/)
  t.alike(parseMountArguments(['-s', 'DATA', 'MNT', '-o', 'cache_mbb=5']).ignored, ['cache_mbb=5'], '-s ignores it')
  t.exception(() => parseMountArguments(['DATA', 'MNT', '-o', 'ro']), /read-only/)
  t.exception(() => parseMountArguments(['DATA', 'MNT', '-o', 'bootstrap']), /bootstrap needs a value/)
  t.exception(() => parseMountArguments(['DATA', 'MNT', '-o']), /-o needs/)
  t.exception(() => parseMountArguments(['DATA']), /needs DATA/)
  t.exception(() => parseMountArguments(['DATA', 'MNT', 'EXTRA']), /needs DATA/)
  t.exception(() => parseMountArguments(['--frob', 'DATA', 'MNT']), /unknown flag/)
})
