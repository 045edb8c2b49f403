import type { CommandModule } from './main.js';
import { gcCommand } from './gc.js';
import { haveCommand } from './have.js';
import { imagesCommand } from './images.js';
import { importCommand } from './import.js';
import { inspectCommand } from './inspect.js';
import { joinCommand } from './join.js';
import { loadCommand } from './load.js';
import { loginCommand } from './login.js';
import { logoutCommand } from './logout.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { rmiCommand } from './rmi.js';
import { saveCommand } from './save.js';
import { splitCommand } from './split.js';
import { tagCommand } from './tag.js';
import { verifyCommand } from './verify.js';

/** Every command, in the order --help lists them. */
export const commands: CommandModule[] = [
  importCommand,
  imagesCommand,
  tagCommand,
  rmiCommand,
  inspectCommand,
  gcCommand,
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
