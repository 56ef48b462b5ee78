// Package mongotest gives tests a MongoDB (or Mongo-wire) server to run
// against: the URI from the environment, or a skip that says how to get
// one, and a fresh database per test that is dropped when the test ends.
// It does not import mongostore, so mongostore's own tests use it too.
package mongotest
