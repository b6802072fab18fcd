//! Access logs: text lines in, records out. (Being written.)
