/**
 * How the doctor shows a URL it was given: as typed, with any password masked, also
 * when the URL does not parse (the user must see what they typed to fix it).
 *
 * @since 0.1.0
 */
import { redactUrl } from "../security/connectionOptions.js"

/** `scheme:` or `scheme://` at the start, as a URL parser would read it. */
const schemePrefix = /^[a-z][a-z0-9+.-]*:(?:\/\/)?/i

/**
 * `url` with its password replaced by `***`. A URL that parses is masked by
 * `redactUrl`; one that does not is read the way a URL parser would: the credentials
 * run from after the scheme to the last `@`, and the password from their first `:`.
 * Text without credentials is returned unchanged.
 *
 * @since 0.1.0
 */
export const shownUrl = (url: string): string => {
  if (URL.canParse(url)) return redactUrl(url)
  const at = url.lastIndexOf("@")
  if (at < 0) return url
  const start = schemePrefix.exec(url)?.[0].length ?? 0
  const colon = url.indexOf(":", start)
  // No `:` before the `@`: a user name only, which is not a secret (as for a URL that parses).
  if (colon < 0 || colon > at) return url
  return `${url.slice(0, colon)}:***${url.slice(at)}`
}
