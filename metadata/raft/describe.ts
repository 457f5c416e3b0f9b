// One-line human renderings of messages, entries and Readys (etcd util.go), for logs, failure output
// and future golden transcripts: `a->b App t2 log 1/3 commit 3 entries [4@2 normal 5b]`.
import { MessageType } from './messages.js'
import type { Entry, HardState, Message } from './messages.js'
import type { Ready } from './ready.js'

const TYPE_NAMES = new Map<number, string>(Object.entries(MessageType).map(([name, value]) => [value, name]))
const ENTRY_TYPE_NAMES = ['normal', 'conf', 'empty']

export function describeEntry (e: Entry): string {
  return `${e.index}@${e.term} ${ENTRY_TYPE_NAMES[e.type] ?? '?'} ${e.data.byteLength}b`
}

export function describeHardState (h: HardState): string {
  return `term ${h.term} vote '${h.vote}' commit ${h.commit}`
}

export function describeMessage (m: Message): string {
  let s = `${m.from}->${m.to} ${TYPE_NAMES.get(m.type) ?? m.type} t${m.term}`
  if (m.index !== 0 || m.logTerm !== 0) s += ` log ${m.logTerm}/${m.index}`
  if (m.commit !== 0) s += ` commit ${m.commit}`
  if (m.reject) s += ` rejected (hint ${m.rejectHint}@${m.logTerm})`
  if (m.entries.length > 0) s += ` entries [${m.entries.map(describeEntry).join(', ')}]`
  if (m.snapshot !== null) s += ` snapshot ${m.snapshot.metadata.index}@${m.snapshot.metadata.term} ${m.snapshot.offset}+${m.snapshot.data.byteLength}/${m.snapshot.bytesTotal}`
  if (m.context.byteLength > 0) s += ` ctx ${m.context.byteLength}b`
  return s
}

export function describeReady (rd: Ready): string {
  const parts: string[] = [`${rd.softState.role} lead '${rd.softState.lead}'`]
  if (rd.hardState !== null) parts.push(`hard ${describeHardState(rd.hardState)}`)
  if (rd.snapshot !== null) parts.push(`snapshot ${rd.snapshot.metadata.index}@${rd.snapshot.metadata.term}`)
  if (rd.entries.length > 0) parts.push(`persist [${rd.entries.map(describeEntry).join(', ')}]`)
  if (rd.committedEntries.length > 0) parts.push(`apply [${rd.committedEntries.map(describeEntry).join(', ')}]`)
  const sends = [...rd.messages, ...rd.messagesAfterPersist]
  if (sends.length > 0) parts.push(`send ${sends.length}`)
  if (rd.mustSync) parts.push('sync')
  return parts.join('; ')
}
