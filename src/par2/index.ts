/** PAR 2.0 recovery data (docs/split.md): writing it for a set of files, and rebuilding damaged or missing slices from it. */
export { writeParity, type OutputFile, type ParityOptions, type ParityResult } from './create.js';
export { readPar2, rebuildSlices, shortfall, sliceMatches, type BadSlice, type Par2File, type Par2Set, type Rebuilt } from './repair.js';
