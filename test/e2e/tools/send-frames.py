#!/usr/bin/env python3
"""Sends malformed Ethernet frames out of an interface (AF_PACKET), for the
malformed-frame test: truncated headers, bad lengths, bad IHL, fragments and
random bytes, all addressed to the gateway's MAC. Usage:
  send-frames.py IFACE DST_MAC SRC_IP DST_IP COUNT SEED
Prints how many frames were sent."""
import errno, random, socket, struct, sys, time

iface, dst_mac, src_ip, dst_ip, count, seed = sys.argv[1:7]
count, rnd = int(count), random.Random(int(seed))
dst = bytes.fromhex(dst_mac.replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src = s.getsockname()[4]
eth = dst + src + b'\x08\x00'
sip, dip = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)

def csum(b):
    b = b + b'\0' * (len(b) % 2)
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip(total=None, ihl=5, frag=0, proto=17, payload=b'\0' * 8, ver=4):
    t = total if total is not None else 20 + len(payload)
    h = struct.pack('!BBHHHBBH4s4s', (ver << 4) | ihl, 0, t, rnd.getrandbits(16), frag, 64, proto, 0, sip, dip)
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]  # a valid header checksum, so deeper checks run
    return h + payload

kinds = [
    lambda: dst + src + b'\x08',                              # truncated Ethernet header
    lambda: eth + b'\x45\x00',                                # truncated IPv4 header
    lambda: eth + ip(ihl=3),                                  # IHL below 5
    lambda: eth + ip(ihl=15),                                 # IHL beyond the packet
    lambda: eth + ip(total=1400),                             # total length beyond the frame
    lambda: eth + ip(total=10),                               # total length below the header
    lambda: eth + ip(ver=6),                                  # wrong version
    lambda: eth + ip(frag=0x2000),                            # first fragment (MF)
    lambda: eth + ip(frag=0x0010),                            # later fragment
    lambda: eth + ip(proto=6, payload=b'\x00\x50\x00'),       # truncated TCP
    lambda: eth + ip(proto=17, payload=b'\x00\x35\x00\x35\x00\x03\x00\x00'),  # UDP length < 8
    lambda: eth + ip(proto=1, payload=b'\x03'),               # truncated ICMP
    lambda: eth + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 200))),  # random IPv4 payload
    lambda: dst + src + b'\x08\x06' + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 40))),  # random ARP
    lambda: dst + src + b'\x81\x00\x00\x05\x81\x00' + b'\0' * 40,  # double VLAN tag
]
sent = 0
for i in range(count):
    frame = kinds[i % len(kinds)]()
    if len(frame) < 14:
        frame = frame + b'\0' * (14 - len(frame))  # the kernel refuses shorter frames; still a bad header after
    # ENOBUFS: the device's queue is full (a veth polled by a NAPI thread holds 256
    # frames); back off and try again, at most 50 times, as a sender that paces itself.
    for attempt in range(50):
        try:
            s.send(frame)
            sent += 1
            break
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                break
            time.sleep(0.001)
print(sent)
