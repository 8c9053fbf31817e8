/**
 * Masks the password of a Redis URL so that it can appear in errors, logs and
 * reports, keeping the rest as written. A URL that does not parse is reduced to
 * its scheme, because echoing malformed input could echo a secret.
 */
export const redactUrl = (url: string): string => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url)
    return scheme ? `${scheme[1]}//<unparseable>` : "<unparseable url>"
  }
  if (parsed.password === "") return url
  const credentials = `${parsed.username}:${parsed.password}@`
  if (url.includes(credentials)) return url.replace(credentials, `${parsed.username}:***@`)
  parsed.password = "***"
  return parsed.toString()
}

/**
 * `base` with another host and port, everything else (scheme, credentials, database,
 * query) kept: how one node's URL is made from the URL the user gave for the topology.
 * An IPv6 host is bracketed, as URLs require.
 */
export const urlWithAddress = (base: string, host: string, port: number): string => {
  const url = new URL(base)
  url.hostname = host.includes(":") ? `[${host}]` : host
  url.port = String(port)
  return url.href
}
