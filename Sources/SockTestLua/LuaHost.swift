import CLua
import SockTestCore
