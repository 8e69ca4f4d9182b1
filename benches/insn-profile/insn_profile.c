// SPDX-License-Identifier: MIT
/*
 * A QEMU TCG plugin: exact instruction counts per translation block,
 * between markers the guest executes (insn-mark.h). Every TB carries an
 * inline counter (QEMU adds its instruction count each time it runs);
 * INSN_PROFILE_START() snapshots the counters, INSN_PROFILE_STOP() writes
 * what ran since, the window's profile, to OUT.N (N = 1, 2, ... in the
 * order the windows close):
 *
 *   # window N
 *   VADDR NINSNS INSTRUCTIONS
 *
 * one line per TB that ran in the window. symbolize.py turns it into a
 * profile by function. Load it with
 *   qemu-system-x86_64 ... -plugin insn_profile.so,out=OUT
 * (ci/vm-run.sh --plugin; benches/insn-profile/loops.sh). Run the guest
 * under -icount (ci/vm-run.sh --icount): QEMU then runs its vCPUs in turn
 * in one thread, so the inline adds and these tables need no atomics
 * (multi-threaded TCG could lose counts).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

struct tb_rec {
	uint64_t vaddr;
	uint64_t ninsns;
	uint64_t raw;	/* instructions since the TB was first translated */
	uint64_t base;	/* raw at the window's start */
	uint64_t sum;	/* instructions in the last closed window */
	struct tb_rec *next;
};

#define HASH_BITS 20
static struct tb_rec *table[1u << HASH_BITS];
static struct tb_rec **all;
static size_t n_all, cap_all;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *out_path = "insn-profile";
static int in_window;
static unsigned long windows;

/* nopl disp32(%rax): 0f 1f 80, then the displacement: code, "VEK" */
static const uint8_t marker[3] = { 0x0f, 0x1f, 0x80 };

static unsigned int hash(uint64_t vaddr, uint64_t n)
{
	uint64_t h = (vaddr ^ (n << 56)) * 0x9e3779b97f4a7c15ull;

	return h >> (64 - HASH_BITS);
}

static struct tb_rec *lookup(uint64_t vaddr, uint64_t n)
{
	unsigned int h = hash(vaddr, n);
	struct tb_rec *r;

	for (r = table[h]; r; r = r->next)
		if (r->vaddr == vaddr && r->ninsns == n)
			return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->vaddr = vaddr;
	r->ninsns = n;
	r->next = table[h];
	table[h] = r;
	if (n_all == cap_all) {
		cap_all = cap_all ? 2 * cap_all : 65536;
		all = realloc(all, cap_all * sizeof(*all));
		if (!all)
			abort();
	}
	all[n_all++] = r;
	return r;
}

static void dump(void)
{
	char path[4096], tmp[4100];
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s.%lu", out_path, windows);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "# window %lu\n", windows);
	for (i = 0; i < n_all; i++)
		if (all[i]->sum)
			fprintf(f, "%llx %llu %llu\n",
				(unsigned long long)all[i]->vaddr,
				(unsigned long long)all[i]->ninsns,
				(unsigned long long)all[i]->sum);
	fclose(f);
	rename(tmp, path);
}

static void on_marker(unsigned int vcpu, void *udata)
{
	uintptr_t code = (uintptr_t)udata;
	size_t i;

	pthread_mutex_lock(&lock);
	if (code == 1 && !in_window) {
		for (i = 0; i < n_all; i++)
			all[i]->base = all[i]->raw;
		in_window = 1;
	} else if (code == 2 && in_window) {
		for (i = 0; i < n_all; i++)
			all[i]->sum = all[i]->raw - all[i]->base;
		in_window = 0;
		windows++;
		dump();
	}
	pthread_mutex_unlock(&lock);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;
	struct tb_rec *r;

	/* A TB first seen inside a window counts from zero (calloc). */
	pthread_mutex_lock(&lock);
	r = lookup(qemu_plugin_tb_vaddr(tb), n);
	pthread_mutex_unlock(&lock);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 &r->raw, n);
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		const uint8_t *d = qemu_plugin_insn_data(insn);

		if (qemu_plugin_insn_size(insn) == 7 && !memcmp(d, marker, 3) &&
		    d[4] == 'V' && d[5] == 'E' && d[6] == 'K' &&
		    (d[3] == 1 || d[3] == 2))
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker,
				QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)d[3]);
	}
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info,
					   int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			out_path = strdup(argv[i] + 4);
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	return 0;
}
