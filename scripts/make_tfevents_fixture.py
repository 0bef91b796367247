"""An independent writer of TensorBoard's event-file format, the reference for
src/engine/tensorboard.ts: Event protobufs encoded by Google's protobuf runtime (messages built
from a descriptor of tensorflow's event.proto/summary.proto fields), TFRecord framing with
crcmod's CRC32C. Development time only:
    /usr/bin/python3 scripts/make_tfevents_fixture.py   (needs python3-protobuf, python3-crcmod)"""
import base64
import json
import os
import struct

import crcmod.predefined
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'tfevents.json')
F = descriptor_pb2.FieldDescriptorProto

fdp = descriptor_pb2.FileDescriptorProto(name='event.proto', package='tensorflow', syntax='proto3')
ev = fdp.message_type.add(name='Event')
for name, number, ftype, tname in [('wall_time', 1, F.TYPE_DOUBLE, None), ('step', 2, F.TYPE_INT64, None),
                                   ('file_version', 3, F.TYPE_STRING, None), ('summary', 5, F.TYPE_MESSAGE, '.tensorflow.Summary'),
                                   ('session_log', 7, F.TYPE_MESSAGE, '.tensorflow.SessionLog')]:
    f = ev.field.add(name=name, number=number, type=ftype, label=F.LABEL_OPTIONAL)
    if tname:
        f.type_name = tname
summ = fdp.message_type.add(name='Summary')
summ.field.add(name='value', number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED, type_name='.tensorflow.Summary.Value')
val = summ.nested_type.add(name='Value')
val.field.add(name='tag', number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
val.field.add(name='simple_value', number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
sl = fdp.message_type.add(name='SessionLog')
enum = sl.enum_type.add(name='SessionStatus')
for i, n in enumerate(['STATUS_UNSPECIFIED', 'START', 'STOP', 'CHECKPOINT']):
    enum.value.add(name=n, number=i)
sl.field.add(name='status', number=1, type=F.TYPE_ENUM, label=F.LABEL_OPTIONAL, type_name='.tensorflow.SessionLog.SessionStatus')
pool = descriptor_pool.DescriptorPool()
pool.Add(fdp)
Event = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName('tensorflow.Event'))

crc32c = crcmod.predefined.mkCrcFun('crc-32c')


def masked(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xffffffff) + 0xa282ead8) & 0xffffffff


def record(data):
    header = struct.pack('<Q', len(data))
    return header + struct.pack('<I', masked(header)) + data + struct.pack('<I', masked(data))


def main():
    events = []
    e = Event(wall_time=1700000000.5, file_version='brain.Event:2')
    events.append(e)
    e = Event(wall_time=1700000000.5, step=3)
    e.session_log.status = 1
    events.append(e)
    scalars = [(1, {'train/loss/ce': 1.25, 'train/top1': 55.5, 'lr': 0.05}), (2, {'test/top1': 78.125, 'img_per_s': 1024.0})]
    for step, values in scalars:
        e = Event(wall_time=1700000001.25 + step, step=step)
        for tag, v in values.items():
            e.summary.value.add(tag=tag, simple_value=v)
        events.append(e)
    data = b''.join(record(e.SerializeToString()) for e in events)
    with open(OUT, 'w') as f:
        json.dump({'scalars': [[s, v] for s, v in scalars], 'bytes': base64.b64encode(data).decode(),
                   'crc32c_123456789': crc32c(b'123456789')}, f)
    print('wrote', OUT, len(data), 'bytes')


if __name__ == '__main__':
    main()
