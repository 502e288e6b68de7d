#!/usr/bin/env node
// Starts the S3-compatible test server (@20minutes/s3rver, pinned in
// package.json; `npm ci` here installs it). Its package has no executable,
// so this calls its command-line entry point with our arguments, e.g.
//   node --openssl-legacy-provider s3rver.js -d DIR -a 127.0.0.1 -p 0 --silent \
//     --configure-bucket NAME
// -p 0 picks a free port; "S3rver listening on ADDR:PORT" on stdout says
// which. The OpenSSL flag is for its continuation tokens (DES) on Node >= 17.
'use strict'
require('@20minutes/s3rver/lib/cli.js')
  .parseAsync(process.argv)
  .catch((err) => {
    console.error(err && err.stack ? err.stack : String(err))
    process.exit(1)
  })
