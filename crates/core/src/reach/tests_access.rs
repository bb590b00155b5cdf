//! The access rules of issue 5 in the analyzer: public endpoints and their allow-lists,
//! private allow-lists, gateway transit and non-transitive providers, and the routes the
//! internet and lab VPCs do not have. Each denial checks its explanation and fix, and
//! that applying the fix to the snapshot turns it into an allow.
