/* file.c — whole-file reads and read-only mappings (see file.h). */
#include "file.h"

#include "error.h"
#include "pages.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum gptoss_status file_map_open(const char *path, struct file_map *map_out)
{
    map_out->data = NULL;
    map_out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(GPTOSS_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return error_set(GPTOSS_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(GPTOSS_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return GPTOSS_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return error_set(GPTOSS_ERR_IO, "%s: mmap: %s", path, strerror(e));
    /* Pages read in from now on come in 2 MB folios and are mapped as such (pages.h). */
    pages_prefer_huge(p, (size_t)st.st_size);
    map_out->data = p;
    map_out->size = (size_t)st.st_size;
    return GPTOSS_OK;
}

void file_map_close(struct file_map *map)
{
    if (map->data)
        munmap((void *)map->data, map->size);
    map->data = NULL;
    map->size = 0;
}

enum gptoss_status file_read_all(const char *path, size_t max_size, char **data_out,
                                 size_t *size_out)
{
    *data_out = NULL;
    if (size_out)
        *size_out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(GPTOSS_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(GPTOSS_ERR_IO, "%s: not a readable regular file", path);
    }
    if ((unsigned long long)st.st_size > max_size) {
        close(fd);
        return error_set(GPTOSS_ERR_FORMAT, "%s: file is %lld bytes, more than the %zu allowed",
                         path, (long long)st.st_size, max_size);
    }
    size_t size = (size_t)st.st_size;
    char *data = xmalloc(size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            free(data);
            return error_set(GPTOSS_ERR_IO, "%s: read: %s", path, strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);
    data[size] = '\0';
    *data_out = data;
    if (size_out)
        *size_out = size;
    return GPTOSS_OK;
}

bool file_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

enum gptoss_status file_mkdirs(const char *dir)
{
    char *path = xstrdup(dir);
    enum gptoss_status st = GPTOSS_OK;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        struct stat sb;
        if (stat(path, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) {
                st = error_set(GPTOSS_ERR_IO, "%s: exists and is not a directory", path);
                break;
            }
        } else if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            st = error_set(GPTOSS_ERR_IO, "%s: mkdir: %s", path, strerror(errno));
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(path);
    return st;
}
