"""`make bench`: this broker, Debian's Mosquitto and amqtt measured side by side on loopback.

The load comes from a C program (loadgen.c) so that the generator is never the bottleneck;
the Python modules here build it, start the brokers, run the workloads round-robin and print
one table with our ratio to each other broker and the targets of issue 3.
"""
