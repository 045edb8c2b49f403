/**
 * CycloneDX 1.6 JSON (cyclonedx.org/docs/1.6/json): the subject (the image,
 * or the tree) as metadata.component, the operating system and each
 * installed package as components, each package's bom-ref its purl. A
 * license is carried by name as the database spells it; the source package
 * and the package manager are properties.
 */
import { contentUuid, isoTime, type SbomOptions, type SbomSubject } from './identity.js';
import { imageUrl, packageUrl } from './purl.js';
import type { Inventory } from './types.js';


export function cyclonedxDocument(inventory: Inventory, subject: SbomSubject, options: SbomOptions): object {
  const subjectRef = subject.digest ? imageUrl(subject.name, subject.digest) : 'subject';
  const components: object[] = [];
  const { os } = inventory;
  if (os) {
    components.push({
      type: 'operating-system',
      'bom-ref': 'operating-system',
      name: os.id,
      ...(os.versionId ? { version: os.versionId } : {}),
      ...(os.prettyName ? { description: os.prettyName } : {}),
    });
  }
  const seen = new Set<string>();
  for (const pkg of inventory.packages) {
    const purl = packageUrl(pkg, os);
    if (seen.has(purl)) continue;
    seen.add(purl);
    const properties: Array<{ name: string; value: string }> = [{ name: 'rootfs:package:type', value: pkg.kind }];
    if (pkg.source) properties.push({ name: 'rootfs:package:source', value: pkg.source });
    components.push({
      type: 'library',
      'bom-ref': purl,
      name: pkg.name,
      version: pkg.version,
      ...(pkg.license ? { licenses: [{ license: { name: pkg.license } }] } : {}),
      purl,
      properties,
    });
  }
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${contentUuid(subject, inventory)}`,
    version: 1,
    metadata: {
      timestamp: isoTime(options.created),
      tools: { components: [{ type: 'application', name: 'rootfs', version: options.toolVersion }] },
      component: {
        type: subject.digest ? 'container' : 'file',
        'bom-ref': subjectRef,
        name: subject.name,
        ...(subject.digest ? { version: subject.digest, hashes: [{ alg: 'SHA-256', content: subject.digest.replace(/^sha256:/, '') }], purl: subjectRef } : {}),
      },
    },
    components,
    dependencies: [{ ref: subjectRef, dependsOn: components.map((c) => (c as { 'bom-ref': string })['bom-ref']) }],
  };
}
