/** Part sets for removable media (split, verify, join, and reading one as a stream) and the have file of delta transfer. */
export { isPartSet, namesPartSet, findPartSet, readPartManifest, type ManifestGate, type PartEntry, type PartManifest, type PartSet } from './manifest.js';
export { openPartSet, partSetProblem, partSetRepairable, parityFilesProblem, verifyPartSet, PartError, type RepairEvents, type ParityStatus, type PartProblem, type PartStatus, type VerifyResult } from './read.js';
export { splitToParts, type SplitOptions, type SplitResult } from './split.js';
export { joinPartSet } from './join.js';
