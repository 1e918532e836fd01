//! Version folder names (format and parse), the job folder, the hidden build name.
