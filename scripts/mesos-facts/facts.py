"""Writes the table of Mesos v1 API facts that mesos_numbers_test checks.

Usage: facts.py MESOS_DESCRIPTORS CORRAL_DESCRIPTORS > core/proto/testdata/mesos-v1-facts.tsv

Both arguments are FileDescriptorSets. The table holds, for every message,
enum, field and enum value that Corral declares under corral.v1 (read as
mesos.v1) and that Mesos declares too, Mesos's facts: a field's number,
whether it is repeated, and its type; an enum value's number. Mesos's
`required` and `optional` are both "singular": they are the same on the wire.
"""
import sys
from google.protobuf import descriptor_pb2 as d

F = d.FieldDescriptorProto
TYPES = {v: k[len('TYPE_'):].lower() for k, v in F.Type.items()}


def facts(path, rename):
    s = d.FileDescriptorSet()
    with open(path, 'rb') as f:
        s.ParseFromString(f.read())
    out = {}

    def enum(prefix, e):
        name = prefix + '.' + e.name
        out[name] = ('enum',)
        for v in e.value:
            out[name + '.' + v.name] = ('value', str(v.number))

    def message(prefix, m):
        name = prefix + '.' + m.name
        out[name] = ('message',)
        for fl in m.field:
            label = 'repeated' if fl.label == F.LABEL_REPEATED else 'singular'
            kind = TYPES[fl.type]
            if fl.type in (F.TYPE_MESSAGE, F.TYPE_ENUM):
                kind += ':' + rename(fl.type_name.lstrip('.'))
            out[name + '.' + fl.name] = ('field', str(fl.number), label, kind)
        for n in m.nested_type:
            message(name, n)
        for e in m.enum_type:
            enum(name, e)

    for f in s.file:
        if f.package.startswith('google.') or f.package.endswith('.internal'):
            continue
        pkg = rename(f.package)
        for m in f.message_type:
            message(pkg, m)
        for e in f.enum_type:
            enum(pkg, e)
    return out


def main():
    mesos = facts(sys.argv[1], lambda n: n)
    corral = facts(sys.argv[2], lambda n: n.replace('corral.v1', 'mesos.v1', 1) if n.startswith('corral.v1') else n)
    print('# Facts of the Mesos 1.11 v1 API (names, numbers, labels, types) for what Corral declares.')
    print('# Written by scripts/mesos-facts/refresh.sh; checked by core/proto/mesos_numbers_test.cc.')
    print('# name\tkind\tnumber\tlabel\ttype')
    for name in sorted(corral):
        if name in mesos:
            print('\t'.join((name,) + mesos[name]))


if __name__ == '__main__':
    main()
