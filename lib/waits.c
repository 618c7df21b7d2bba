#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "keyhash.h"
#include "log.h"
#include "waits.h"

#define WAITS_ENTRIES	65536		/* a power of two */
#define WAITS_MAX_LOAD	(WAITS_ENTRIES / 8 * 7)

/*
 * One entry: a device's or a user's key (0: free), its total and the
 * share of each worker slot.  Entries are `stride` bytes apart.
 */
struct entry {
	uint64_t	 key;
	uint32_t	 total;
	uint16_t	 n[];		/* one per worker slot */
};

struct table {
	pthread_mutex_t	 lock;
	int		 nslots;
	size_t		 stride;
	size_t		 used;
	unsigned char	 entries[];
};

static struct table *tab;
static int my_slot = -1;

static struct entry *
at(size_t i)
{
	return (struct entry *)(tab->entries + i * tab->stride);
}

/* Map the table; once in the master, before forking.  Returns 0 or -1. */
int
waits_init(int nslots)
{
	pthread_mutexattr_t attr;
	size_t		 stride, len;
	void		*p;

	if (tab != NULL)
		return 0;
	if (nslots < 1)
		nslots = 1;
	stride = sizeof(struct entry) + sizeof(uint16_t) * (size_t)nslots;
	stride = (stride + 7) & ~(size_t)7;
	len = sizeof(struct table) + stride * WAITS_ENTRIES;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return -1;
	tab = p;
	tab->nslots = nslots;
	tab->stride = stride;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&tab->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return 0;
}

static void
lock(void)
{
	if (pthread_mutex_lock(&tab->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&tab->lock);
}

static void
unlock(void)
{
	pthread_mutex_unlock(&tab->lock);
}

static size_t
home(uint64_t key)
{
	return (size_t)(key ^ (key >> 29)) & (WAITS_ENTRIES - 1);
}

/*
 * The entry of key, or with insert the free entry where it goes (key
 * set, counts zero); NULL when absent (or, inserting, the table is full).
 */
static struct entry *
find(uint64_t key, int insert)
{
	size_t		 i;
	struct entry	*e;

	for (i = home(key);; i = (i + 1) & (WAITS_ENTRIES - 1)) {
		e = at(i);
		if (e->key == key)
			return e;
		if (e->key == 0)
			break;
	}
	if (!insert || tab->used >= WAITS_MAX_LOAD)
		return NULL;
	memset(e, 0, tab->stride);
	e->key = key;
	tab->used++;
	return e;
}

/*
 * Free entry e, moving back the entries after it that its place would
 * cut off from their home (linear probing's deletion: no tombstones, so
 * lookups never lengthen).
 */
static void
drop(struct entry *e)
{
	size_t		 i = (size_t)((unsigned char *)e - tab->entries) /
			    tab->stride, j = i, k;
	struct entry	*f;

	for (;;) {
		j = (j + 1) & (WAITS_ENTRIES - 1);
		f = at(j);
		if (f->key == 0)
			break;
		k = home(f->key);
		/* f stays when its home lies cyclically in (i, j] */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		memcpy(at(i), f, tab->stride);
		i = j;
	}
	memset(at(i), 0, tab->stride);
	tab->used--;
}

static uint64_t
user_key(int64_t user_id)
{
	return keyhash(&user_id, sizeof(user_id)) | 1;
}

static uint64_t
device_key(int64_t user_id, const char *device_id)
{
	return keyhash_device(user_id, device_id) & ~(uint64_t)1;
}

/*
 * This worker process serves as slot `slot`: whatever its predecessor in
 * the slot counted (it may have died with polls waiting) is forgotten.
 */
void
waits_worker_start(int slot)
{
	unsigned char	*copy;
	struct entry	*e;
	size_t		 i, n = 0;

	my_slot = slot;
	if (tab == NULL || slot < 0 || slot >= tab->nslots)
		return;
	lock();
	for (i = 0; i < WAITS_ENTRIES; i++) {
		e = at(i);
		if (e->key != 0 && e->n[slot] != 0) {
			e->total -= e->n[slot];
			e->n[slot] = 0;
			n++;
		}
	}
	/* entries whose total fell to 0 go; rebuild rather than shift */
	if (n > 0 && (copy = malloc(tab->stride * WAITS_ENTRIES)) != NULL) {
		memcpy(copy, tab->entries, tab->stride * WAITS_ENTRIES);
		memset(tab->entries, 0, tab->stride * WAITS_ENTRIES);
		tab->used = 0;
		for (i = 0; i < WAITS_ENTRIES; i++) {
			struct entry *old = (struct entry *)(copy +
			    i * tab->stride);
			if (old->key == 0 || old->total == 0)
				continue;
			if ((e = find(old->key, 1)) != NULL)
				memcpy(e, old, tab->stride);
		}
		free(copy);
	}
	unlock();
}

/*
 * A poll of device_id (of user_id) is about to wait: count it, unless
 * the device or the user holds its cap (0: no cap) already.  Returns
 * WAITS_OK (counted: call waits_leave() when it ends) or why not.
 */
enum waits_rc
waits_enter(int64_t user_id, const char *device_id)
{
	struct entry	*d, *u;
	enum waits_rc	 rc = WAITS_OK;
	int		 s = my_slot;

	if (tab == NULL || s < 0 || s >= tab->nslots)
		return WAITS_OK;
	lock();
	d = find(device_key(user_id, device_id), 1);
	u = find(user_key(user_id), 1);
	if (d == NULL || u == NULL)
		rc = WAITS_TABLE_FULL;
	else if (cfg.max_waits_per_device > 0 &&
	    d->total >= cfg.max_waits_per_device)
		rc = WAITS_DEVICE_FULL;
	else if (cfg.max_waits_per_user > 0 &&
	    u->total >= cfg.max_waits_per_user)
		rc = WAITS_USER_FULL;
	else if (d->n[s] == UINT16_MAX || u->n[s] == UINT16_MAX)
		rc = WAITS_TABLE_FULL;
	if (rc == WAITS_OK) {
		d->total++;
		d->n[s]++;
		u->total++;
		u->n[s]++;
	} else {
		/* entries made by this call alone go again */
		if (d != NULL && d->total == 0)
			drop(d);
		if ((u = find(user_key(user_id), 0)) != NULL && u->total == 0)
			drop(u);
	}
	unlock();
	if (rc == WAITS_TABLE_FULL)
		log_msg(LOG_WARN, "waits: the table of waiting polls is full");
	return rc;
}

/* One counted wait of device_id ended. */
void
waits_leave(int64_t user_id, const char *device_id)
{
	struct entry	*e;
	uint64_t	 keys[2];
	int		 i, s = my_slot;

	if (tab == NULL || s < 0 || s >= tab->nslots)
		return;
	keys[0] = device_key(user_id, device_id);
	keys[1] = user_key(user_id);
	lock();
	for (i = 0; i < 2; i++) {
		if ((e = find(keys[i], 0)) == NULL || e->n[s] == 0)
			continue;
		e->n[s]--;
		if (--e->total == 0)
			drop(e);
	}
	unlock();
}

/* The device's waits now, across the host (for tests and stats). */
int64_t
waits_count_device(int64_t user_id, const char *device_id)
{
	struct entry	*e;
	int64_t		 n = 0;

	if (tab == NULL)
		return 0;
	lock();
	if ((e = find(device_key(user_id, device_id), 0)) != NULL)
		n = e->total;
	unlock();
	return n;
}
