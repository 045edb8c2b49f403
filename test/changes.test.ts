// tier: unit
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyChanges, parseDuration } from '../src/image/changes.js';
import { UsageError } from '../src/errors.js';

test('CMD and ENTRYPOINT: JSON exec form and shell form', () => {
  const config = applyChanges({}, ['CMD ["/bin/bash", "-l"]', 'ENTRYPOINT /usr/bin/tini --']);
  assert.deepEqual(config.Cmd, ['/bin/bash', '-l']);
  assert.deepEqual(config.Entrypoint, ['/bin/sh', '-c', '/usr/bin/tini --']);
  // Text that only looks like JSON is refused, where a Dockerfile would run it as a shell command.
  assert.throws(() => applyChanges({}, ['CMD [not json']), (err) => err instanceof UsageError && /CMD \[not json.*not a JSON array of strings/.test(err.message));
  assert.throws(() => applyChanges({}, ['VOLUME [1]']), UsageError);
});

test('ENV: key=value pairs with quotes, legacy form, replacement, and expansion from earlier ENV', () => {
  const config = applyChanges({ Env: ['PATH=/usr/bin'] }, [
    'ENV LANG=C.UTF-8 GREETING="hello world"',
    'ENV PATH=/opt/app/bin:$PATH',
    'ENV LEGACY value with  spaces',
    "ENV SINGLE='$PATH stays'",
    'ENV BRACED=${LANG}-x DEFAULTED=${MISSING:-fallback} ALT=${LANG:+set}',
  ]);
  assert.deepEqual(config.Env, [
    'PATH=/opt/app/bin:/usr/bin',
    'LANG=C.UTF-8',
    'GREETING=hello world',
    'LEGACY=value with  spaces',
    'SINGLE=$PATH stays',
    'BRACED=C.UTF-8-x',
    'DEFAULTED=fallback',
    'ALT=set',
  ]);
});

test('EXPOSE expands ranges and protocols; LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, ONBUILD', () => {
  const config = applyChanges({}, [
    'EXPOSE 80 443/udp 8000-8002',
    'LABEL maintainer="ops team" version=1.0',
    'USER 1000:1000',
    'VOLUME ["/data", "/logs"]',
    'VOLUME /cache',
    'WORKDIR /srv',
    'WORKDIR app',
    'STOPSIGNAL SIGQUIT',
    'ONBUILD RUN make',
  ]);
  assert.deepEqual(Object.keys(config.ExposedPorts ?? {}), ['80/tcp', '443/udp', '8000/tcp', '8001/tcp', '8002/tcp']);
  // Keys from users live in maps without a prototype (so __proto__ is a key): compared as plain objects.
  assert.deepEqual({ ...config.Labels }, { maintainer: 'ops team', version: '1.0' });
  assert.equal(config.User, '1000:1000');
  assert.deepEqual(Object.keys(config.Volumes ?? {}), ['/data', '/logs', '/cache']);
  assert.equal(config.WorkingDir, '/srv/app');
  assert.equal(config.StopSignal, 'SIGQUIT');
  assert.deepEqual(config.OnBuild, ['RUN make']);
});

test('HEALTHCHECK with flags in nanoseconds, and NONE', () => {
  const config = applyChanges({}, ['HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://localhost/']);
  assert.deepEqual(config.Healthcheck, { Interval: 30e9, Timeout: 90e9, Retries: 3, Test: ['CMD-SHELL', 'curl -f http://localhost/'] });
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK CMD ["/bin/check"]']).Healthcheck, { Test: ['CMD', '/bin/check'] });
  assert.deepEqual(applyChanges({}, ['healthcheck none']).Healthcheck, { Test: ['NONE'] });
  assert.equal(parseDuration('500ms'), 5e8);
});

test('the base config is not modified', () => {
  const base = { Env: ['A=1'] };
  applyChanges(base, ['ENV A=2']);
  assert.deepEqual(base, { Env: ['A=1'] });
});

test('bad instructions are usage errors naming the instruction', () => {
  const cases: Array<[string, RegExp]> = [
    ['RUN make', /RUN is not a valid change instruction/],
    ['FROM scratch', /FROM is not a valid change instruction/],
    ['EXPOSE 70000', /invalid port range/],
    ['EXPOSE http', /invalid port 'http'/],
    ['ENV', /needs at least one key=value/],
    ['ENV =x', /not key=value/],
    ['ENV A="unterminated', /unmatched double quote/],
    ['USER a b', /exactly one argument/],
    ['HEALTHCHECK --interval=soon CMD true', /invalid duration 'soon'/],
    ['HEALTHCHECK --bogus=1 CMD true', /unknown HEALTHCHECK flag --bogus/],
    ['ONBUILD FROM x', /not allowed as an ONBUILD trigger/],
    ['CMD', /needs a command/],
  ];
  for (const [change, message] of cases) {
    assert.throws(() => applyChanges({}, [change]), (err: unknown) => err instanceof UsageError && message.test(err.message) && err.message.includes(change), change);
  }
});
