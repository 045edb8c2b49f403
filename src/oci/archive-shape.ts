/**
 * Telling an image archive (docker save, OCI archive or layout) from a
 * filesystem tarball by member names alone, while the tar streams, so that
 * `load` of a root filesystem and `import` of a `docker save` are caught
 * early and told which command was meant, without buffering anything.
 *
 * Every image archive's top level holds only manifest.json, index.json,
 * oci-layout, repositories, blobs/ and 64-hex names (`<id>/layer.tar`,
 * `<id>.json`, `<digest>.tar`); a root filesystem starts with ./etc, bin…
 */
const imageTopName = /^(?:manifest\.json|index\.json|oci-layout|repositories|blobs|[a-f0-9]{64}(?:\.json|\.tar)?)$/;

/** The first path component of a member name, without "./" or "/" in front. */
function topName(name: string): string {
  return name.replace(/^(?:\.?\/)+/, '').split('/', 1)[0]!;
}

/**
 * For load: whether the first member (after `.`) could start an image
 * archive. Members are still read in order, so one look at the first is
 * enough, and an image archive with stray files after its start still loads.
 */
export function startsLikeImageArchive(firstMember: string): boolean {
  const top = topName(firstMember);
  return top === '' || top === '.' || imageTopName.test(top);
}

/**
 * For import: watches member names and says when the tar is clearly an
 * image archive: manifest.json beside blobs/ or layer directories (docker
 * save, classic and 25+), or oci-layout beside index.json (OCI archive).
 */
export class ImageArchiveSigns {
  private readonly seen = new Set<string>();

  /** Notes one member; true once the archive is clearly an image archive. */
  see(name: string): boolean {
    const path = name.replace(/^(?:\.?\/)+/, '').replace(/\/+$/, '');
    const top = topName(path);
    if (path === top) this.seen.add(top);
    if (top === 'blobs' || /^[a-f0-9]{64}/.test(top)) this.seen.add('layers');
    return (this.seen.has('manifest.json') && this.seen.has('layers')) || (this.seen.has('oci-layout') && this.seen.has('index.json'));
  }
}
