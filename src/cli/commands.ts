import type { CommandModule } from './main.js';
import { gcCommand } from './gc.js';
import { haveCommand } from './have.js';
import { imagesCommand } from './images.js';
import { importCommand } from './import.js';
import { exportCommand } from './export.js';
import { inspectCommand } from './inspect.js';
import { joinCommand } from './join.js';
import { packCommand } from './pack.js';
import { presetsCommand } from './presets.js';
import { loadCommand } from './load.js';
import { loginCommand } from './login.js';
import { logoutCommand } from './logout.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { rmiCommand } from './rmi.js';
import { saveCommand } from './save.js';
import { splitCommand } from './split.js';
import { squashCommand } from './squash.js';
import { tagCommand } from './tag.js';
import { unpackCommand } from './unpack.js';
import { verifyCommand } from './verify.js';

/** Every command, in the order --help lists them. */
export const commands: CommandModule[] = [
  packCommand,
  presetsCommand,
  importCommand,
  imagesCommand,
  tagCommand,
  rmiCommand,
  inspectCommand,
  gcCommand,
  squashCommand,
  exportCommand,
  unpackCommand,
  saveCommand,
  loadCommand,
  splitCommand,
  verifyCommand,
  joinCommand,
  haveCommand,
  pushCommand,
  pullCommand,
  loginCommand,
  logoutCommand,
];
