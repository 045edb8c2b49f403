/** The SBOM media types: each format's document, and the artifactType of its referrer (what sign and --require-signed look for). */
export const spdxMediaType = 'application/spdx+json';
export const cyclonedxMediaType = 'application/vnd.cyclonedx+json';
export const sbomMediaTypes: readonly string[] = [spdxMediaType, cyclonedxMediaType];
