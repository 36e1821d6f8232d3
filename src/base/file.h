/* file.h — reading files: whole-file reads for small text, read-only mappings for large data.
 *
 * Both report failures through error.h with the path in the message.
 */
#ifndef GPTOSS_BASE_FILE_H
#define GPTOSS_BASE_FILE_H

#include "gptoss.h"

#include <stdbool.h>
#include <stddef.h>

struct file_map {
    const unsigned char *data; /* NULL for an empty file */
    size_t size;
};

/* Maps `path` read-only. Release with file_map_close(). */
enum gptoss_status file_map_open(const char *path, struct file_map *map_out);
void file_map_close(struct file_map *map);

/* Reads a whole file into a NUL-terminated malloc'd buffer (free() it). Files over max_size
 * bytes are refused with GPTOSS_ERR_FORMAT. */
enum gptoss_status file_read_all(const char *path, size_t max_size, char **data_out,
                                 size_t *size_out);

bool file_is_dir(const char *path);

/* Creates `dir` and any missing parents (mkdir -p); an existing directory is fine, anything
 * else in the way is GPTOSS_ERR_IO naming it. */
enum gptoss_status file_mkdirs(const char *dir);
bool file_exists(const char *path);

#endif
