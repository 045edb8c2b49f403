// Prints 1 when a C compiler can build and link against the library named
// in argv[2] (header and static archive below, so the addon needs no shared
// library at run time), else 0: binding.gyp builds the
// encoder only where the library is installed, and falls back to zlib
// elsewhere instead of failing `npm install`.
const { spawnSync } = require('node:child_process');

const libraries = {
  libdeflate: { header: 'libdeflate.h', link: '-l:libdeflate.a', call: 'libdeflate_free_compressor(libdeflate_alloc_compressor(6));' },
};
const library = libraries[process.argv[2]];
const source = `#include <${library.header}>\nint main(void) { ${library.call} return 0; }\n`;
const compiler = process.env.CC || 'cc';
const result = spawnSync(compiler, ['-x', 'c', '-', '-o', '/dev/null', library.link], { input: source, stdio: ['pipe', 'ignore', 'ignore'] });
process.stdout.write(result.status === 0 ? '1' : '0');
