// Runs once, on the first start of an empty data directory (the image's
// /docker-entrypoint-initdb.d, authenticated as root): creates the user
// the workers connect as, with readWrite on the taskfleet database only.
// Its password is the mongo_taskfleet_password secret, also in store_uri.
const fs = require('fs');
const pwd = fs.readFileSync('/run/secrets/mongo_taskfleet_password', 'utf8').trim();
const database = process.env.MONGO_TASKFLEET_DB || 'taskfleet';
db.getSiblingDB('admin').createUser({ user: 'taskfleet', pwd: pwd, roles: [{ role: 'readWrite', db: database }] });
