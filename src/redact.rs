//! The one redaction layer every output passes through. (Being written.)
