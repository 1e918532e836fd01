//! Recursive inotify watcher: wd<->path maps, watches for new directories, drain to typed events.
