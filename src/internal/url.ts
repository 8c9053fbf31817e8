/**
 * Masks the password of a Redis URL so that it can appear in errors, logs and
 * reports. A URL that does not parse is reduced to its scheme, because echoing
 * malformed input could echo a secret.
 */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url)
    return scheme ? `${scheme[1]}//<unparseable>` : "<unparseable url>"
  }
}
